fn main() -> std::process::ExitCode {
    quire::cli::main()
}
