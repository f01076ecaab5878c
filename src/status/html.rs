//! Pure: the admin server's `/status` page: per load balancer the map ([`super::svg`]) and the
//! table, as one small HTML document with no external assets (no script, no stylesheet, no
//! font or image fetched; even the favicon is inline), refreshed every 30 s by a meta refresh.

use std::fmt::Write as _;

use super::model::Status;
use super::svg::{self, esc};
use super::table::{coordinates, if_down_text, lb_summary, membership, percent};

/// Seconds between refreshes of the page.
pub const REFRESH_SECS: u32 = 30;

const STYLE: &str = "body{font-family:'DejaVu Sans',Arial,Helvetica,sans-serif;margin:20px;color:#222;background:#fafafa}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:24px 0 8px}p{margin:4px 0}\
.meta{color:#555}.error{color:#b2182b;font-weight:bold}\
svg.status-map{display:block;width:100%;max-width:920px;height:auto;margin-top:12px;border:1px solid #ddd;background:#fff}\
table{border-collapse:collapse;margin-top:10px;font-size:12px;background:#fff}\
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#f0f0f0}td.num{text-align:right}td.nw{white-space:nowrap}\
.swatch{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-1px}\
.serving{color:#1a7a3c}.drained{color:#8a6d00}.leaving{color:#555}.foreign{color:#5a3d8a}\
.unhealthy{color:#b2182b;font-weight:bold}.degraded{color:#b35806}";

fn head(title: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<link rel=\"icon\" href=\"data:,\"><title>{}</title><style>{STYLE}</style></head><body>",
        esc(title)
    )
}

/// The page.
pub fn page(s: &Status) -> String {
    let mut o = head(&format!("cfgeo status: {}", s.zone));
    let _ = write!(
        o,
        "<h1>cfgeo status</h1><p class=\"meta\">Zone {} · read <time class=\"read-at\" datetime=\"{at}\">{at}</time> from Cloudflare · refreshes every {REFRESH_SECS} s · read only</p>",
        esc(&s.zone),
        at = esc(&s.read_at),
    );
    if s.load_balancers.is_empty() {
        let _ = write!(
            o,
            "<p>No load balancer with cfgeo pools in zone {}.</p>",
            esc(&s.zone)
        );
    }
    for (n, lb) in s.load_balancers.iter().enumerate() {
        let colours = svg::colours(lb);
        let _ = write!(
            o,
            // The map's own title names the hostname and its settings.
            "<section class=\"lb\" data-lb=\"{host}\" aria-label=\"{host}: {}\">",
            esc(&lb_summary(lb)),
            host = esc(&lb.hostname),
        );
        if lb.fallback_only && lb.id.is_some() {
            o.push_str(
                "<p class=\"error\">No pool can take traffic: every user goes to the fallback pool.</p>",
            );
        }
        o.push_str(&svg::panel(lb, s, n));
        o.push_str(
            "<table class=\"pools\"><thead><tr><th>Pool</th><th>Region</th><th>Cluster</th><th>Owner</th>\
<th>Coordinates</th><th>Enabled origins</th><th>Disabled origins</th><th>State</th><th>Health</th>\
<th>Load balancer</th><th>Land</th><th>If down, users go to</th></tr></thead><tbody>",
        );
        for (i, p) in lb.pools.iter().enumerate() {
            let dash = |v: &Option<String>| esc(v.as_deref().unwrap_or("-"));
            let list = |v: &[String]| {
                if v.is_empty() {
                    "-".to_string()
                } else {
                    esc(&v.join(", "))
                }
            };
            let _ = write!(
                o,
                "<tr class=\"pool\" data-pool=\"{name}\" data-region=\"{region}\" data-state=\"{state}\" data-health=\"{health}\" data-land-share=\"{share:.4}\">\
<td class=\"nw\"><span class=\"swatch\" style=\"background:{c}\"></span>{name}</td><td class=\"nw\">{region}</td><td class=\"nw\">{cluster}</td><td class=\"nw\">{owner}</td>\
<td class=\"nw\">{coords}</td><td>{on}</td><td>{off}</td><td class=\"{state}\">{state}</td><td class=\"{health}\" title=\"{detail}\">{health}</td>\
<td>{member}</td><td class=\"num\">{pct}</td><td>{down}</td></tr>",
                name = esc(&p.name),
                region = dash(&p.region),
                cluster = dash(&p.cluster),
                owner = dash(&p.owner),
                coords = esc(&coordinates(p)),
                on = list(&p.enabled_origins),
                off = list(&p.disabled_origins),
                state = p.state.as_str(),
                health = p.health.as_str(),
                detail = esc(&p.health_detail),
                member = membership(p),
                share = p.land_share,
                pct = percent(p.land_share),
                down = esc(&if_down_text(p)),
                c = colours[i],
            );
        }
        o.push_str("</tbody></table></section>");
    }
    o.push_str("</body></html>\n");
    o
}

/// The page when Cloudflare could not be read: the error, and the same refresh, so the page
/// recovers by itself.
pub fn error_page(message: &str) -> String {
    let mut o = head("cfgeo status: unavailable");
    let _ = writeln!(
        o,
        "<h1>cfgeo status</h1><p class=\"error\">Cloudflare could not be read: {}</p><p class=\"meta\">Retrying every {REFRESH_SECS} s.</p></body></html>",
        esc(message)
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::model::tests::{pool, status_of};

    #[test]
    fn page_is_self_contained_and_refreshes() {
        let pools: Vec<_> = ["eu", "us_east", "us_west", "asia"]
            .iter()
            .map(|r| pool(r, &[("192.0.2.1", true)]))
            .collect();
        let s = status_of(&pools, 0, &[]);
        let html = page(&s);
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("<meta http-equiv=\"refresh\" content=\"30\">"));
        assert_eq!(html.matches("<tr class=\"pool\"").count(), 4);
        assert_eq!(html.matches("<svg").count(), 1);
        assert!(html.contains("2026-01-02T03:04:05Z"));
        // Nothing is fetched from anywhere: no script, no external reference.
        for banned in [
            "<script", "http://", "https://", "src=", "@import", "url(http",
        ] {
            let hits: Vec<_> = html
                .match_indices(banned)
                .map(|(i, _)| &html[i.saturating_sub(30)..(i + 40).min(html.len())])
                .filter(|ctx| !ctx.contains("xmlns=\"http://www.w3.org/2000/svg\""))
                .collect();
            assert!(hits.is_empty(), "{banned}: {hits:?}");
        }
    }

    #[test]
    fn error_page_escapes_the_message() {
        let e = error_page("<bad> & worse");
        assert!(e.contains("&lt;bad&gt; &amp; worse"));
        assert!(e.contains("content=\"30\""));
    }
}
