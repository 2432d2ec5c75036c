mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}
use account::*;

struct Handlers;

impl Handlers {
    #[asyncapi_runtime::event_listener(channel = "user/signup")]
    async fn on_signup(self, message: UserSignup) {
        let _ = message;
    }
}

fn main() {}
