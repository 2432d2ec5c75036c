// The seed document with a listener for every channel the Application receives from,
// registered on a consumer. Nothing runs: the point is that it type-checks.
#[allow(deprecated)] // the seed's known warnings: undeclared `{version}`, unknown `basicAuth`
mod account {
    asyncapi_runtime::asyncapi!("fixtures/specs/account-service.yaml");
}

use account::*;

#[asyncapi_runtime::event_listener(channel = "user/signup")]
async fn on_signup(message: UserSignup) {
    let _ = message;
}

#[allow(dead_code)]
fn register(app: &Application) -> asyncapi_runtime::Consumer<Application> {
    app.consumer().listen::<on_signup>()
}

fn main() {}
