//! The land outline the status map draws and weighs by: Natural Earth 1:110m land (public
//! domain), compiled in from `assets/land-110m.txt` (source, licence and conversion in
//! `assets/README.md`). Parsed once; point-in-land by the even-odd rule, as the map fills it.

use std::sync::OnceLock;

use super::StatusError;

/// The asset: one ring per line, `lon,lat` pairs in tenths of a degree; `#` lines are comments.
const RAW: &str = include_str!("../../assets/land-110m.txt");

/// One closed ring of (longitude, latitude) degrees, with its bounding box.
#[derive(Debug, Clone, PartialEq)]
pub struct Ring {
    /// Points, the last joined back to the first.
    pub points: Vec<(f64, f64)>,
    min: (f64, f64),
    max: (f64, f64),
}

impl Ring {
    fn new(points: Vec<(f64, f64)>) -> Self {
        let mut min = (f64::MAX, f64::MAX);
        let mut max = (f64::MIN, f64::MIN);
        for &(x, y) in &points {
            min = (min.0.min(x), min.1.min(y));
            max = (max.0.max(x), max.1.max(y));
        }
        Self { points, min, max }
    }

    /// Even-odd crossing test of a point against this ring.
    fn crosses(&self, lon: f64, lat: f64) -> bool {
        if lon < self.min.0 || lon > self.max.0 || lat < self.min.1 || lat > self.max.1 {
            return false;
        }
        let mut inside = false;
        let n = self.points.len();
        let mut j = n - 1;
        for i in 0..n {
            let (xi, yi) = self.points[i];
            let (xj, yj) = self.points[j];
            if (yi > lat) != (yj > lat) && lon < (xj - xi) * (lat - yi) / (yj - yi) + xi {
                inside = !inside;
            }
            j = i;
        }
        inside
    }
}

/// Parses the asset format.
pub fn parse(text: &str) -> Result<Vec<Ring>, StatusError> {
    let mut rings = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |message: String| StatusError::Land {
            line: i + 1,
            message,
        };
        let mut points = Vec::new();
        for pair in line.split_whitespace() {
            let (x, y) = pair
                .split_once(',')
                .ok_or_else(|| bad(format!("{pair:?} is not lon,lat")))?;
            let x: i32 = x
                .parse()
                .map_err(|_| bad(format!("{x:?} is not a number")))?;
            let y: i32 = y
                .parse()
                .map_err(|_| bad(format!("{y:?} is not a number")))?;
            if !(-1800..=1800).contains(&x) || !(-900..=900).contains(&y) {
                return Err(bad(format!("{pair} is outside the world")));
            }
            points.push((f64::from(x) / 10.0, f64::from(y) / 10.0));
        }
        if points.len() < 3 {
            return Err(bad("a ring needs at least 3 points".into()));
        }
        rings.push(Ring::new(points));
    }
    Ok(rings)
}

/// The compiled-in outline. A defect in it (a unit test guards against one) gives a map
/// without land, never a failed page.
pub fn rings() -> &'static [Ring] {
    static RINGS: OnceLock<Vec<Ring>> = OnceLock::new();
    RINGS.get_or_init(|| {
        parse(RAW).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the compiled-in land outline does not parse");
            Vec::new()
        })
    })
}

/// True when the point is on land.
pub fn is_land(lon: f64, lat: f64) -> bool {
    rings().iter().filter(|r| r.crosses(lon, lat)).count() % 2 == 1
}

/// Land cells of a grid of `step` degrees, row by row from the north, west to east, judged at
/// each cell's centre. The default grid's mask is computed once.
pub fn mask(step: f64) -> Vec<bool> {
    static DEFAULT: OnceLock<Vec<bool>> = OnceLock::new();
    let compute = || {
        let rows = (180.0 / step).round() as usize;
        let cols = (360.0 / step).round() as usize;
        let mut out = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            let lat = 90.0 - (r as f64 + 0.5) * step;
            for c in 0..cols {
                let lon = -180.0 + (c as f64 + 0.5) * step;
                out.push(is_land(lon, lat));
            }
        }
        out
    };
    if (step - super::shade::CELL_DEGREES).abs() < f64::EPSILON {
        DEFAULT.get_or_init(compute).clone()
    } else {
        compute()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_asset_parses_and_stays_small() {
        let rings = parse(RAW).expect("assets/land-110m.txt parses");
        assert!(rings.len() > 50, "{} rings", rings.len());
        assert!(RAW.len() < 100_000, "{} bytes", RAW.len());
    }

    #[test]
    fn known_places() {
        for (name, lon, lat) in [
            ("Frankfurt", 8.68, 50.11),
            ("Kansas", -98.0, 38.5),
            ("Sahara", 10.0, 23.0),
            ("central Australia", 134.0, -25.0),
            ("Siberia", 100.0, 62.0),
            ("Antarctica", 0.0, -80.0),
            ("Brazil", -50.0, -10.0),
        ] {
            assert!(is_land(lon, lat), "{name} should be land");
        }
        for (name, lon, lat) in [
            ("mid Atlantic", -30.0, 30.0),
            ("Pacific", -150.0, 0.0),
            ("Indian Ocean", 80.0, -30.0),
            ("Mediterranean", 18.0, 34.5),
        ] {
            assert!(!is_land(lon, lat), "{name} should be sea");
        }
    }

    #[test]
    fn bad_lines_name_their_line() {
        let e = parse("# c\n0,0 10,0 10,10\n0,0 x,1 2,2\n").unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
        assert!(parse("0,0 1,1\n").is_err());
        assert!(parse("0,0 1,1 1900,0\n").is_err());
    }
}
