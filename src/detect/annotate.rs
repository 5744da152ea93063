//! Drawing detections onto an RGBA picture (boxes, landmarks, "label 0.83" in a tiny bitmap
//! font), for `lookout detect --annotate` and local debug output. No dependencies.

use super::Detection;

/// Distinct colours, picked by class id.
const PALETTE: [[u8; 3]; 8] = [
    [255, 64, 64],
    [64, 220, 64],
    [64, 128, 255],
    [255, 200, 0],
    [255, 64, 255],
    [0, 220, 220],
    [255, 140, 0],
    [160, 96, 255],
];

/// Font cell: 3x5 glyphs drawn at this many pixels per dot, one dot of spacing.
const DOT: u32 = 2;
const GLYPH_W: u32 = 3;
const GLYPH_H: u32 = 5;

/// A 3x5 glyph: five rows, three bits each (bit 2 = left column).
fn glyph(c: char) -> [u8; 5] {
    match c.to_ascii_lowercase() {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b001, 0b001, 0b001],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        'a' => [0b010, 0b101, 0b111, 0b101, 0b101],
        'b' => [0b110, 0b101, 0b110, 0b101, 0b110],
        'c' => [0b011, 0b100, 0b100, 0b100, 0b011],
        'd' => [0b110, 0b101, 0b101, 0b101, 0b110],
        'e' => [0b111, 0b100, 0b110, 0b100, 0b111],
        'f' => [0b111, 0b100, 0b110, 0b100, 0b100],
        'g' => [0b011, 0b100, 0b101, 0b101, 0b011],
        'h' => [0b101, 0b101, 0b111, 0b101, 0b101],
        'i' => [0b111, 0b010, 0b010, 0b010, 0b111],
        'j' => [0b001, 0b001, 0b001, 0b101, 0b010],
        'k' => [0b101, 0b101, 0b110, 0b101, 0b101],
        'l' => [0b100, 0b100, 0b100, 0b100, 0b111],
        'm' => [0b101, 0b111, 0b111, 0b101, 0b101],
        'n' => [0b110, 0b101, 0b101, 0b101, 0b101],
        'o' => [0b010, 0b101, 0b101, 0b101, 0b010],
        'p' => [0b110, 0b101, 0b110, 0b100, 0b100],
        'q' => [0b010, 0b101, 0b101, 0b111, 0b011],
        'r' => [0b110, 0b101, 0b110, 0b101, 0b101],
        's' => [0b011, 0b100, 0b010, 0b001, 0b110],
        't' => [0b111, 0b010, 0b010, 0b010, 0b010],
        'u' => [0b101, 0b101, 0b101, 0b101, 0b111],
        'v' => [0b101, 0b101, 0b101, 0b101, 0b010],
        'w' => [0b101, 0b101, 0b111, 0b111, 0b101],
        'x' => [0b101, 0b101, 0b010, 0b101, 0b101],
        'y' => [0b101, 0b101, 0b010, 0b010, 0b010],
        'z' => [0b111, 0b001, 0b010, 0b100, 0b111],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        '-' | '_' => [0b000, 0b000, 0b111, 0b000, 0b000],
        ':' => [0b000, 0b010, 0b000, 0b010, 0b000],
        '%' => [0b101, 0b001, 0b010, 0b100, 0b101],
        ' ' => [0; 5],
        _ => [0b111, 0b101, 0b101, 0b101, 0b111],
    }
}

/// A mutable RGBA picture, tightly packed.
pub struct Canvas<'a> {
    pub data: &'a mut [u8],
    pub width: u32,
    pub height: u32,
}

impl Canvas<'_> {
    /// Sets one pixel; outside the picture does nothing.
    fn put(&mut self, x: i64, y: i64, rgb: [u8; 3]) {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return;
        }
        let i = (y as usize * self.width as usize + x as usize) * 4;
        if let Some(p) = self.data.get_mut(i..i + 3) {
            p.copy_from_slice(&rgb);
        }
    }

    /// A filled rectangle `[x1, x2) x [y1, y2)`, clipped.
    fn fill(&mut self, x1: i64, y1: i64, x2: i64, y2: i64, rgb: [u8; 3]) {
        for y in y1.max(0)..y2.min(i64::from(self.height)) {
            for x in x1.max(0)..x2.min(i64::from(self.width)) {
                self.put(x, y, rgb);
            }
        }
    }

    /// A rectangle outline `thickness` pixels wide, inside `[x1, x2] x [y1, y2]`.
    pub fn rect(&mut self, b: [f32; 4], thickness: i64, rgb: [u8; 3]) {
        let [x1, y1, x2, y2] = b.map(|v| v.round() as i64);
        self.fill(x1, y1, x2 + 1, y1 + thickness, rgb);
        self.fill(x1, y2 + 1 - thickness, x2 + 1, y2 + 1, rgb);
        self.fill(x1, y1, x1 + thickness, y2 + 1, rgb);
        self.fill(x2 + 1 - thickness, y1, x2 + 1, y2 + 1, rgb);
    }

    /// `text` with its top-left corner at (x, y), on a filled background.
    pub fn text(&mut self, x: i64, y: i64, text: &str, fg: [u8; 3], bg: [u8; 3]) {
        let (w, h) = text_size(text);
        self.fill(x, y, x + i64::from(w), y + i64::from(h), bg);
        let step = i64::from((GLYPH_W + 1) * DOT);
        for (i, c) in text.chars().enumerate() {
            let gx = x + i64::from(DOT) + i as i64 * step;
            for (row, bits) in glyph(c).iter().enumerate() {
                for col in 0..GLYPH_W {
                    if bits & (0b100 >> col) != 0 {
                        let px = gx + i64::from(col * DOT);
                        let py = y + i64::from(DOT) + row as i64 * i64::from(DOT);
                        self.fill(px, py, px + i64::from(DOT), py + i64::from(DOT), fg);
                    }
                }
            }
        }
    }
}

/// Width and height in pixels of `text` with its one-dot margin.
pub fn text_size(text: &str) -> (u32, u32) {
    let n = text.chars().count() as u32;
    ((n * (GLYPH_W + 1) + 1) * DOT, (GLYPH_H + 2) * DOT)
}

/// Draws every detection: its box, its landmarks, and "label score" above the box (inside when
/// the box touches the top edge).
pub fn draw(canvas: &mut Canvas<'_>, detections: &[Detection]) {
    for d in detections {
        let rgb = PALETTE[d.class_id as usize % PALETTE.len()];
        canvas.rect(d.bbox, 2, rgb);
        for p in &d.landmarks {
            let (x, y) = (p[0].round() as i64, p[1].round() as i64);
            canvas.fill(x - 1, y - 1, x + 2, y + 2, [255, 255, 255]);
            canvas.put(x, y, rgb);
        }
        let label = format!("{} {:.2}", d.label, d.score);
        let (_, h) = text_size(&label);
        let x = d.bbox[0].round() as i64;
        let above = d.bbox[1].round() as i64 - i64::from(h);
        let y = if above >= 0 {
            above
        } else {
            d.bbox[1].round() as i64
        };
        canvas.text(x, y, &label, [0, 0, 0], rgb);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn box_edges_are_drawn_and_inside_is_untouched() {
        let (w, h) = (40u32, 30u32);
        let mut data = vec![0u8; (w * h * 4) as usize];
        let mut c = Canvas {
            data: &mut data,
            width: w,
            height: h,
        };
        let d = Detection {
            class_id: 0,
            label: Arc::from("face"),
            score: 0.9,
            bbox: [10.0, 20.0, 30.0, 28.0],
            landmarks: vec![],
        };
        draw(&mut c, &[d]);
        let px = |x: u32, y: u32| &data[((y * w + x) * 4) as usize..((y * w + x) * 4 + 3) as usize];
        assert_eq!(px(10, 24), &PALETTE[0]); // left edge
        assert_eq!(px(30, 24), &PALETTE[0]); // right edge
        assert_eq!(px(20, 28), &PALETTE[0]); // bottom edge
        assert_eq!(px(20, 24), &[0, 0, 0]); // inside
        assert_eq!(px(5, 5), &[0, 0, 0]); // far away
        // The label sits above the box: its background colours the row just above it.
        assert_eq!(px(11, 19), &PALETTE[0]);
    }

    #[test]
    fn drawing_outside_the_picture_is_clipped() {
        let mut data = vec![0u8; 4 * 4 * 4];
        let mut c = Canvas {
            data: &mut data,
            width: 4,
            height: 4,
        };
        c.rect([-10.0, -10.0, 100.0, 100.0], 2, [1, 2, 3]);
        c.text(-5, 2, "person 0.99", [9, 9, 9], [1, 1, 1]);
        assert!(data.iter().any(|&v| v != 0));
    }
}
