// A listener in a module that did not expand the document, without `api = path`.
mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}

mod handlers {
    use crate::account::UserSignup;

    #[asyncapi_runtime::event_listener(channel = "user/signup")]
    async fn on_signup(message: UserSignup) {
        let _ = message;
    }
}

fn main() {}
