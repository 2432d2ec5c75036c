// `api` names a module that did not expand a document.
mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}

mod handlers {
    use crate::account::UserSignup;

    #[asyncapi_runtime::event_listener(channel = "user/signup", api = crate::handlers)]
    async fn on_signup(message: UserSignup) {
        let _ = message;
    }
}

fn main() {}
