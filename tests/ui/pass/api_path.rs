// Listeners in a module other than the one that expanded the document name it with `api`.
mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}

mod handlers {
    use crate::account::{AccountCreated, UserSignup};

    #[asyncapi_runtime::event_listener(channel = "user/signup", api = crate::account)]
    pub async fn on_signup(message: UserSignup) {
        let _ = message;
    }

    #[asyncapi_runtime::event_listener(channel = "account/created", side = Client, api = crate::account)]
    pub async fn on_created(message: AccountCreated) {
        let _ = message;
    }
}

#[allow(dead_code)]
fn register(app: &account::Application, client: &account::Client) {
    let _ = app.consumer().listen::<handlers::on_signup>();
    let _ = client.consumer().listen::<handlers::on_created>();
}

fn main() {}
