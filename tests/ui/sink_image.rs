// A decoded picture cannot be handed to the sinks.
fn leak(sinks: &lookout::sinks::Sinks, picture: image::RgbaImage) {
    sinks.publish(picture); //~ ERROR E0308
}

fn main() {}
