// A camera frame cannot be handed to the sinks: they take events only.
fn leak(sinks: &lookout::sinks::Sinks, frame: lookout::capture::Frame) {
    sinks.publish(frame); //~ ERROR E0308
}

fn main() {}
