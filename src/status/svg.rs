//! Pure: the status map as SVG. Per load balancer an equirectangular world map: land shaded by
//! the pool proximity steering picks there ([`super::shade`]), a marker per pool coloured by
//! state and health, a legend, and the time the data was read. No external assets.

use std::fmt::Write as _;
use std::sync::OnceLock;

use super::land;
use super::model::{Health, LbStatus, PoolState, PoolStatus, Status};
use super::shade::{self, CELL_DEGREES};
use super::table::{lb_summary, percent};

/// Pixels per degree.
const SCALE: f64 = 3.0;
/// Map size in pixels.
const MAP_W: f64 = 360.0 * SCALE;
const MAP_H: f64 = 180.0 * SCALE;
/// Height of the title above the map.
const TITLE_H: f64 = 48.0;
/// Height of one legend line.
const LINE_H: f64 = 20.0;

/// Shading colours, one per pool in name order (so a pool keeps its colour when another is
/// drained or added); colour-blind friendly, after Tableau 10.
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#e15759", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// Escapes text for XML and HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The shading colour of each pool of `lb`, by row.
pub fn colours(lb: &LbStatus) -> Vec<&'static str> {
    let mut names: Vec<&str> = lb.pools.iter().map(|p| p.name.as_str()).collect();
    names.sort();
    lb.pools
        .iter()
        .map(|p| {
            let i = names.iter().position(|n| *n == p.name).unwrap_or(0);
            PALETTE[i % PALETTE.len()]
        })
        .collect()
}

/// A marker's inner colour: the state first (a drained or leaving pool is that, even if its
/// health check fails with it), then the health.
pub fn marker_colour(p: &PoolStatus) -> &'static str {
    match (p.state, p.health) {
        (PoolState::Leaving, _) => "#525252",
        (PoolState::Drained, _) => "#f0f0f0",
        (_, Health::Unhealthy) => "#d73027",
        (_, Health::Degraded) => "#fdae61",
        (_, Health::Unknown) => "#9ecae1",
        (_, Health::Healthy) => "#1a9850",
    }
}

/// The marker colours, for the legend.
const MARKER_LEGEND: [(&str, &str); 6] = [
    ("#1a9850", "serving, healthy"),
    ("#fdae61", "serving, degraded"),
    ("#9ecae1", "serving, health unknown"),
    ("#d73027", "unhealthy"),
    ("#f0f0f0", "drained"),
    ("#525252", "leaving"),
];

fn x(lon: f64) -> f64 {
    (lon + 180.0) * SCALE
}

fn y(lat: f64) -> f64 {
    (90.0 - lat) * SCALE
}

/// Path data of the land outline in map pixels, relative moves to keep it small.
fn land_path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let mut d = String::new();
        for ring in land::rings() {
            let mut prev: Option<(f64, f64)> = None;
            for &(lon, lat) in &ring.points {
                // Rounded to 0.1 px, and moves taken between rounded points, so no drift.
                let p = (
                    (x(lon) * 10.0).round() / 10.0,
                    (y(lat) * 10.0).round() / 10.0,
                );
                match prev {
                    None => {
                        let _ = write!(d, "M{},{}", p.0, p.1);
                    }
                    Some(q) => {
                        let dx = ((p.0 - q.0) * 10.0).round() / 10.0;
                        let dy = ((p.1 - q.1) * 10.0).round() / 10.0;
                        let _ = write!(d, "l{dx},{dy}");
                    }
                }
                prev = Some(p);
            }
            d.push('Z');
        }
        d
    })
}

/// Height of a panel for `lb`.
fn panel_height(lb: &LbStatus) -> f64 {
    let lines = lb.pools.len().max(MARKER_LEGEND.len().div_ceil(2)) as f64;
    TITLE_H + MAP_H + 36.0 + lines * LINE_H + 86.0
}

/// One load balancer's map as an `<svg>` element. `n` makes its ids unique within a page.
pub fn panel(lb: &LbStatus, s: &Status, n: usize) -> String {
    let h = panel_height(lb);
    let colours = colours(lb);
    let mut o = String::new();
    let _ = write!(
        o,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="status-map" data-lb="{host}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif" font-size="13" role="img" aria-label="Which pool serves which part of the world for {host}">"##,
        host = esc(&lb.hostname),
        w = MAP_W,
    );
    let _ = write!(o, "<title>cfgeo status: {}</title>", esc(&lb.hostname));
    let _ = write!(
        o,
        r##"<defs><path id="land-{n}" d="{d}"/><clipPath id="land-clip-{n}"><use href="#land-{n}" clip-rule="evenodd"/></clipPath></defs>"##,
        d = land_path()
    );
    let _ = write!(
        o,
        r##"<rect width="{MAP_W}" height="{h}" fill="#ffffff"/>"##
    );
    let _ = write!(
        o,
        r##"<text x="12" y="21" font-size="17" font-weight="bold" fill="#222">{}</text><text x="12" y="40" fill="#555">{}</text>"##,
        esc(&lb.hostname),
        esc(&lb_summary(lb))
    );

    let _ = write!(o, r##"<g transform="translate(0,{TITLE_H})">"##);
    let _ = write!(
        o,
        r##"<rect width="{MAP_W}" height="{MAP_H}" fill="#dde8f0"/>"##
    );
    // Graticule every 30 degrees.
    let mut grat = String::new();
    for k in 1..12 {
        let _ = write!(grat, "M{},0V{MAP_H}", f64::from(k) * 30.0 * SCALE);
    }
    for k in 1..6 {
        let _ = write!(grat, "M0,{}H{MAP_W}", f64::from(k) * 30.0 * SCALE);
    }
    let _ = write!(
        o,
        r##"<path d="{grat}" stroke="#c6d6e3" stroke-width="0.6" fill="none"/>"##
    );
    let _ = write!(
        o,
        r##"<use href="#land-{n}" fill="#d4d4d4" fill-rule="evenodd"/>"##
    );

    // Shading: runs of cells with one winner, clipped to the land.
    let g = shade::grid(&lb.pools, CELL_DEGREES);
    let cell = CELL_DEGREES * SCALE;
    let _ = write!(
        o,
        r##"<g class="shading" clip-path="url(#land-clip-{n})" shape-rendering="crispEdges" fill-opacity="0.9">"##
    );
    for r in 0..g.rows {
        let mut c = 0;
        while c < g.cols {
            let w = g.winner(r, c);
            let start = c;
            while c < g.cols && g.winner(r, c) == w {
                c += 1;
            }
            if let Some(i) = w {
                let _ = write!(
                    o,
                    r##"<rect x="{}" y="{}" width="{}" height="{cell}" fill="{}" data-pool="{}"/>"##,
                    start as f64 * cell,
                    r as f64 * cell,
                    (c - start) as f64 * cell,
                    colours[i],
                    esc(&lb.pools[i].name)
                );
            }
        }
    }
    o.push_str("</g>");
    let _ = write!(
        o,
        r##"<use href="#land-{n}" fill="none" stroke="#6f6f6f" stroke-width="0.6"/>"##
    );

    // Markers on top, each ringed in its pool's shading colour.
    for (i, p) in lb.pools.iter().enumerate() {
        let Some((lat, lon)) = p.coordinates() else {
            continue;
        };
        let fill = marker_colour(p);
        let (cx, cy) = (x(lon), y(lat));
        let _ = write!(
            o,
            r##"<g class="marker" data-pool="{name}" data-state="{state}" data-health="{health}"><title>{label} ({name}): {state}, {health}; {share} of land</title>"##,
            name = esc(&p.name),
            label = esc(&p.label),
            state = p.state.as_str(),
            health = p.health.as_str(),
            share = percent(p.land_share),
        );
        // Outer shape in the pool's area colour, inner dot in its state and health colour.
        if p.state == PoolState::Foreign {
            let _ = write!(
                o,
                r##"<rect x="{}" y="{}" width="18" height="18" fill="{}" stroke="#ffffff" stroke-width="2"/>"##,
                cx - 9.0,
                cy - 9.0,
                colours[i]
            );
        } else {
            let _ = write!(
                o,
                r##"<circle cx="{cx}" cy="{cy}" r="9.5" fill="{}" stroke="#ffffff" stroke-width="2"/>"##,
                colours[i]
            );
        }
        let _ = write!(
            o,
            r##"<circle cx="{cx}" cy="{cy}" r="4.5" fill="{fill}" stroke="#333333" stroke-width="0.8"/>"##
        );
        let _ = write!(
            o,
            r##"<text x="{}" y="{}" font-weight="bold" fill="#222" stroke="#ffffff" stroke-width="3" paint-order="stroke">{}</text></g>"##,
            cx + 13.0,
            cy + 4.5,
            esc(&p.label)
        );
    }
    if lb.fallback_only && !lb.pools.is_empty() {
        let _ = write!(
            o,
            r##"<text x="{}" y="{}" text-anchor="middle" font-size="18" font-weight="bold" fill="#b2182b" stroke="#ffffff" stroke-width="4" paint-order="stroke">No pool can take traffic: every user goes to the fallback pool</text>"##,
            MAP_W / 2.0,
            MAP_H - 16.0
        );
    }
    o.push_str("</g>");

    // Legend: who serves each area, then what the markers mean, then when.
    let top = TITLE_H + MAP_H + 26.0;
    let _ = write!(
        o,
        r##"<text x="12" y="{top}" font-weight="bold" fill="#222">Area served (nearest pool that can take traffic)</text><text x="620" y="{top}" font-weight="bold" fill="#222">Markers (inner dot)</text>"##
    );
    for (i, p) in lb.pools.iter().enumerate() {
        let ly = top + 10.0 + i as f64 * LINE_H;
        let _ = write!(
            o,
            r##"<g class="legend-pool" data-pool="{name}"><rect x="12" y="{ly}" width="14" height="14" fill="{c}"/><text x="34" y="{ty}" fill="#222"><tspan font-weight="bold">{label}</tspan> {name}: {state}, {health}, {share} of land</text></g>"##,
            name = esc(&p.name),
            c = colours[i],
            ty = ly + 12.0,
            label = esc(&p.label),
            state = p.state.as_str(),
            health = p.health.as_str(),
            share = percent(p.land_share),
        );
    }
    // Two columns of three.
    for (k, (c, meaning)) in MARKER_LEGEND.iter().enumerate() {
        let lx = 620.0 + (k / 3) as f64 * 220.0;
        let ly = top + 10.0 + (k % 3) as f64 * LINE_H;
        let _ = write!(
            o,
            r##"<circle cx="{}" cy="{}" r="6" fill="{c}" stroke="#555" stroke-width="1"/><text x="{}" y="{}" fill="#222">{meaning}</text>"##,
            lx + 7.0,
            ly + 7.0,
            lx + 22.0,
            ly + 12.0
        );
    }
    let foot = h - 62.0;
    let _ = write!(
        o,
        r##"<text x="12" y="{foot}" fill="#444" class="read-at">Read {at} from Cloudflare, zone {zone}.</text>"##,
        at = esc(&s.read_at),
        zone = esc(&s.zone),
    );
    let small = [
        "Markers: the outer disk has the pool's area colour, the inner dot its state and health; a square is a pool cfgeo does not manage.".to_string(),
        "Shading: the nearest enabled, healthy pool by great-circle distance, as proximity steering picks it; drained, leaving and unhealthy".to_string(),
        format!("pools are skipped, and the fallback pool serves when none can. Judged on a {CELL_DEGREES}° grid. Land: Natural Earth 1:110m (public domain)."),
    ];
    for (k, line) in small.iter().enumerate() {
        let _ = write!(
            o,
            r##"<text x="12" y="{}" fill="#777" font-size="11">{}</text>"##,
            foot + 18.0 + k as f64 * 15.0,
            esc(line)
        );
    }
    o.push_str("</svg>");
    o
}

/// The standalone SVG file of `--output svg`: every load balancer's panel, one under another.
pub fn render(s: &Status) -> String {
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    match s.load_balancers.as_slice() {
        [] => {
            let _ = write!(
                o,
                r##"<svg xmlns="http://www.w3.org/2000/svg" width="{MAP_W}" height="60" viewBox="0 0 {MAP_W} 60" font-family="DejaVu Sans, Arial, sans-serif" font-size="14"><rect width="{MAP_W}" height="60" fill="#ffffff"/><text x="12" y="34">No load balancer with cfgeo pools in zone {} (read {}).</text></svg>"##,
                esc(&s.zone),
                esc(&s.read_at)
            );
        }
        [lb] => o.push_str(&panel(lb, s, 0)),
        lbs => {
            let total: f64 = lbs.iter().map(panel_height).sum();
            let _ = write!(
                o,
                r##"<svg xmlns="http://www.w3.org/2000/svg" width="{MAP_W}" height="{total}" viewBox="0 0 {MAP_W} {total}">"##
            );
            let mut top = 0.0;
            for (n, lb) in lbs.iter().enumerate() {
                let p = panel(lb, s, n);
                // A nested <svg> is positioned by its own x/y attributes.
                let _ = write!(o, r##"<g transform="translate(0,{top})">{p}</g>"##);
                top += panel_height(lb);
            }
            o.push_str("</svg>");
        }
    }
    o.push('\n');
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::model::tests::{pool, status_of};

    fn four() -> Status {
        let pools: Vec<_> = ["eu", "us_east", "us_west", "asia"]
            .iter()
            .map(|r| pool(r, &[("192.0.2.1", true)]))
            .collect();
        status_of(&pools, 0, &[])
    }

    #[test]
    fn map_has_markers_shading_legend_and_time() {
        let s = four();
        let svg = render(&s);
        assert!(svg.starts_with("<?xml"));
        assert_eq!(svg.matches("class=\"marker\"").count(), 4);
        assert_eq!(svg.matches("class=\"legend-pool\"").count(), 4);
        let lb = &s.load_balancers[0];
        for (p, c) in lb.pools.iter().zip(colours(lb)) {
            assert!(p.land_share > 0.0);
            let cell = format!("fill=\"{c}\" data-pool=\"{}\"/>", p.name);
            assert!(svg.contains(&cell), "no shading for {}", p.name);
        }
        assert!(svg.contains("Read 2026-01-02T03:04:05Z"));
        assert!(svg.len() < 200_000, "{} bytes", svg.len());
        // Well-formed enough for an XML reader: every element opened is closed.
        assert_eq!(svg.matches("<svg").count(), svg.matches("</svg>").count());
        assert_eq!(svg.matches("<g").count(), svg.matches("</g>").count());
    }

    #[test]
    fn draining_changes_the_shading_not_the_colours() {
        let s = four();
        let mut drained = s.clone();
        drained.load_balancers[0].pools[0].enabled_origins.clear();
        drained.load_balancers[0].pools[0].state = PoolState::Drained;
        crate::status::shade::annotate(&mut drained.load_balancers[0]);
        let eu = &s.load_balancers[0].pools[0].name;
        let cells = |svg: &str| svg.matches(&format!("data-pool=\"{eu}\"/>")).count();
        assert!(cells(&panel(&s.load_balancers[0], &s, 0)) > 0);
        assert_eq!(cells(&panel(&drained.load_balancers[0], &drained, 0)), 0);
        assert_eq!(
            colours(&s.load_balancers[0]),
            colours(&drained.load_balancers[0])
        );
    }

    #[test]
    fn text_is_escaped_and_ids_are_unique_per_panel() {
        let mut s = four();
        s.zone = "a<b>&\"c\"".into();
        let p = panel(&s.load_balancers[0], &s, 3);
        assert!(p.contains("a&lt;b&gt;&amp;&quot;c&quot;"));
        assert!(p.contains("id=\"land-3\"") && p.contains("url(#land-clip-3)"));
        let mut two = s.clone();
        let mut other = two.load_balancers[0].clone();
        other.hostname = "shop.example.com".into();
        two.load_balancers.push(other);
        let svg = render(&two);
        assert!(svg.contains("id=\"land-0\"") && svg.contains("id=\"land-1\""));
    }
}
