//! What each side of a document needs on the broker: the topics of its channels and the
//! dead-letter topics of the channels it consumes. The generated `TOPIC_SPECS` and the
//! CLI's `topics` command both read this, so they cannot disagree.

use crate::ir::{Action, Channel, Document, Operation, Reply, ReplyAddressing, TopicBinding};

/// One of the two sides generated from a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Side {
    /// The application the document describes (`Application`).
    Application,
    /// Its mirror image (`Client`): it sends what the application receives.
    Client,
}

impl Side {
    /// Whether this side sends the messages of `op` (rather than receiving them).
    pub fn sends(self, op: &Operation) -> bool {
        (op.action == Action::Send) == (self == Side::Application)
    }

    /// The name of the generated type.
    pub fn type_name(self) -> &'static str {
        match self {
            Side::Application => "Application",
            Side::Client => "Client",
        }
    }
}

/// What a topic is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopicRole {
    /// The topic of one or more channels.
    Channel,
    /// The default dead-letter topic (`<topic>.dlq`) of a topic the side consumes.
    DeadLetter,
}

/// A topic a side needs, with what the document's Kafka binding says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicNeed {
    /// The topic's name.
    pub name: String,
    /// Whether it carries a channel's records or its dead letters.
    pub role: TopicRole,
    /// The channels on the topic; for a dead-letter topic, the channels whose records
    /// land on it.
    pub channels: Vec<String>,
    /// Partitions, replicas and configs from the first channel's binding (none for a
    /// dead-letter topic).
    pub binding: TopicBinding,
}

/// Everything a side needs on the broker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerNeeds {
    /// Topics with a fixed name, channel topics first, in document order.
    pub topics: Vec<TopicNeed>,
    /// Channels whose topic has `{parameter}` placeholders, with that template: their
    /// topics are named at run time and cannot be created ahead.
    pub templates: Vec<(String, String)>,
}

/// The topics `side` of `doc` sends on, receives from or dead-letters to.
pub fn needs(doc: &Document, side: Side) -> BrokerNeeds {
    let mut needs = BrokerNeeds::default();
    // A reply channel without address whose topic each requester names has no topic
    // of its own to create.
    let named_by_requester = |op: &Operation, reply: &Reply| {
        reply.addressing(&doc.channels[op.channel], &doc.channels)
            == ReplyAddressing::TopicChosenByRequester
    };
    let used = doc.operations.iter().flat_map(|op| {
        let reply = op
            .reply
            .as_ref()
            .filter(|reply| !named_by_requester(op, reply));
        std::iter::once(op.channel).chain(reply.map(|r| r.channel))
    });
    for channel in used.map(|index| &doc.channels[index]) {
        match fixed_topic(channel) {
            Some(topic) => add(&mut needs.topics, topic, TopicRole::Channel, channel),
            None => {
                if let Ok(template) = &channel.topic {
                    let entry = (channel.id.clone(), template.clone());
                    if !needs.templates.contains(&entry) {
                        needs.templates.push(entry);
                    }
                }
            }
        }
    }
    for channel in consumed(doc, side) {
        if let Some(topic) = fixed_topic(channel) {
            let dead_letter = dead_letter_topic(topic);
            add(
                &mut needs.topics,
                &dead_letter,
                TopicRole::DeadLetter,
                channel,
            );
        }
    }
    needs
}

/// The consumer's default dead-letter topic of `topic` (as the runtime names it).
pub fn dead_letter_topic(topic: &str) -> String {
    asyncapi_syntax::topic::dead_letter_topic(topic)
}

/// The channels `side` consumes records of (and dead-letters them from), in document
/// order: those of operations it receives, not the reply channels its requester reads.
pub fn consumed(doc: &Document, side: Side) -> impl Iterator<Item = &Channel> {
    doc.channels
        .iter()
        .enumerate()
        .filter_map(move |(index, channel)| {
            let received = doc
                .operations
                .iter()
                .any(|op| op.channel == index && !side.sends(op));
            (received && channel.topic.is_ok()).then_some(channel)
        })
}

/// The channel's topic when it has no placeholders.
fn fixed_topic(channel: &Channel) -> Option<&str> {
    let topic = channel.topic.as_deref().ok()?;
    (channel.parameters.is_empty() && !topic.contains('{')).then_some(topic)
}

fn add(topics: &mut Vec<TopicNeed>, name: &str, role: TopicRole, channel: &Channel) {
    if let Some(known) = topics.iter_mut().find(|t| t.name == name) {
        if !known.channels.contains(&channel.id) {
            known.channels.push(channel.id.clone());
        }
        return;
    }
    topics.push(TopicNeed {
        name: name.to_owned(),
        role,
        channels: vec![channel.id.clone()],
        binding: match role {
            TopicRole::Channel => channel.topic_binding.clone(),
            TopicRole::DeadLetter => TopicBinding::default(),
        },
    });
}
