// Serving a page allocates and frees many short strings from both cores;
// glibc's allocator spent a fifth of a cached page's time doing it
// (docs/decisions.md, "mimalloc").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    quire::cli::main()
}
