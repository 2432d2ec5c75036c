//! Prints the code `asyncapi!` generates for a document: `cargo run -p asyncapi-codegen --example expand -- path/to/doc.yaml`.

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: expand <document>");
        std::process::exit(2);
    };
    let started = std::time::Instant::now();
    let expansion = asyncapi_codegen::expand_file(std::path::Path::new(&path), &Default::default());
    eprintln!("expanded in {:?}", started.elapsed());
    match expansion {
        Ok(e) => {
            for w in &e.warnings {
                eprintln!("warning: {w}");
            }
            print!("{}", e.pretty());
        }
        Err(d) => {
            eprintln!("error: {d}");
            std::process::exit(1);
        }
    }
}
