fn main() {
    println!("tern");
}
