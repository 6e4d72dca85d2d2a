fn main() {
    println!("device-sim: not yet");
}
