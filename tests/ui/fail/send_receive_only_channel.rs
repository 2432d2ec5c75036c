mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}
use account::*;

// The application receives from `user/signup`: its producer cannot send there.
#[allow(dead_code)]
async fn send(app: &Application, signup: &UserSignup) {
    let _ = app
        .producer()
        .send::<channels::UserSignup>(asyncapi_runtime::Outgoing::new(signup))
        .await;
}

fn main() {}
