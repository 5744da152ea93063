// A tensor (pre-processed pixels) cannot be handed to the sinks.
fn leak(sinks: &lookout::sinks::Sinks, tensor: lookout::infer::Tensor) {
    sinks.publish(tensor); //~ ERROR E0308
}

fn main() {}
