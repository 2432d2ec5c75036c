//! What the in-memory tests share: the seed service started on a test broker.

use std::sync::Arc;

use account_service::account::{self, UserSignup};
use account_service::on_signup;
use asyncapi_runtime::testing::{TestBroker, TestConsumer};

/// The service of `src/lib.rs` on `broker`: its `on_signup` listener, started.
pub fn start_service(broker: &TestBroker) -> TestConsumer {
    let service = Arc::new(account::Application::new(broker.config()).unwrap());
    broker.start(
        service
            .consumer()
            .with_shared_state(service.clone())
            .listen::<on_signup>(),
    )
}

pub fn signup(email: &str) -> UserSignup {
    UserSignup {
        email: Some(email.into()),
        name: None,
    }
}
