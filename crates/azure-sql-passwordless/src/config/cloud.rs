//! The DNS-suffix table: which token scope and which Entra authority a server's cloud uses (see
//! "The token scope" in the module docs).

/// One row of the DNS-suffix table in the module docs. (Azure Germany, `database.cloudapi.de`,
/// closed in October 2021 and has no row: Microsoft Learn, "Azure Germany closure".)
pub(crate) struct Cloud {
    pub(super) suffix: &'static str,
    pub(crate) scope: &'static str,
    pub(crate) authority: &'static str,
}

const PUBLIC_SCOPE: &str = "https://database.windows.net/.default";
const PUBLIC_AUTHORITY: &str = "https://login.microsoftonline.com";

#[rustfmt::skip]
pub(super) const CLOUDS: &[Cloud] = &[
    Cloud { suffix: "database.windows.net", scope: PUBLIC_SCOPE, authority: PUBLIC_AUTHORITY },
    Cloud { suffix: "database.chinacloudapi.cn", scope: "https://database.chinacloudapi.cn/.default", authority: "https://login.chinacloudapi.cn" },
    Cloud { suffix: "database.usgovcloudapi.net", scope: "https://database.usgovcloudapi.net/.default", authority: "https://login.microsoftonline.us" },
    Cloud { suffix: "sql.azuresynapse.net", scope: PUBLIC_SCOPE, authority: PUBLIC_AUTHORITY },
    Cloud { suffix: "datawarehouse.fabric.microsoft.com", scope: PUBLIC_SCOPE, authority: PUBLIC_AUTHORITY },
    Cloud { suffix: "database.fabric.microsoft.com", scope: PUBLIC_SCOPE, authority: PUBLIC_AUTHORITY },
];

const PUBLIC_CLOUD: Cloud = Cloud {
    suffix: "",
    scope: PUBLIC_SCOPE,
    authority: PUBLIC_AUTHORITY,
};

/// The cloud a host belongs to, by DNS suffix; anything unknown is the public cloud.
pub(crate) fn cloud_for_host(host: &str) -> &'static Cloud {
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    CLOUDS
        .iter()
        .find(|c| {
            host.strip_suffix(c.suffix)
                .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
        })
        .unwrap_or(&PUBLIC_CLOUD)
}
