//! Entry point: parse the command line and hand over to the library.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    match cfgeo::cli::run(cfgeo::cli::parse()).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", cfgeo::cli::error_text(&err));
            std::process::ExitCode::from(1)
        }
    }
}
