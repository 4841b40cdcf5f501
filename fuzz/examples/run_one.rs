//! Runs one input through a target, for debugging a crash without libFuzzer:
//! `cargo run --example run_one -- <target> <file>...`

fn main() {
    let mut args = std::env::args().skip(1);
    let target = args.next().expect("usage: run_one <target> <file>...");
    let run: fn(&[u8]) = match target.as_str() {
        "parse" => synack_fuzz::parse::run,
        "stack_input" => synack_fuzz::stack_input::run,
        "reassembly" => synack_fuzz::reassembly::run,
        t => panic!("unknown target {t}"),
    };
    let mut failed = 0;
    for path in args {
        let bytes = std::fs::read(&path).expect("read input");
        let r = std::panic::catch_unwind(|| run(&bytes));
        if r.is_err() {
            println!("FAIL {path}");
            failed += 1;
        }
    }
    std::process::exit(i32::from(failed > 0));
}
