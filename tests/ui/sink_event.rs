// The control case: an event is what sinks take, so this compiles (the harness checks it does,
// which proves the failing cases fail for their argument, not for a broken project).
fn publish(sinks: &lookout::sinks::Sinks, event: lookout::events::Event) {
    sinks.publish(event);
}

fn main() {}
