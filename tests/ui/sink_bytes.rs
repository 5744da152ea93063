// Raw bytes (an encoded JPEG, say) cannot be handed to the sinks.
fn leak(sinks: &lookout::sinks::Sinks, jpeg: Vec<u8>) {
    sinks.publish(jpeg); //~ ERROR E0308
}

fn main() {}
