//! Conformance case: the secrets siaga reads back (webhook secrets, unsubscribe tokens,
//! the token a pending notice carries) come back exactly as given through every call
//! that returns them, and an unsubscribe token is still found by its value, whatever the
//! store keeps at rest.

use std::sync::Arc;

use super::*;
use crate::{Fanout, NewNotice, NoticeBody, Subscriber};

fn subscriber(id: &str, email: &str, token: &str) -> Subscriber {
    Subscriber {
        id: id.into(),
        email: email.into(),
        components: Vec::new(),
        status: "confirmed".into(),
        confirm_hash: Some(format!("ch-{id}")),
        unsub_token: token.into(),
        created_at: T0,
        confirm_sent_at: T0,
        confirmed_at: Some(T0),
        unsubscribed_at: None,
    }
}

fn mail(to: &str, unsub: Option<&str>) -> Fanout {
    Fanout {
        body: NoticeBody {
            kind: "incident.created".into(),
            subject: "s".into(),
            text: "t".into(),
            html: "h".into(),
            payload: "{}".into(),
        },
        notices: vec![NewNotice {
            msg_id: format!("msg_{to}"),
            channel: "email".into(),
            target: to.into(),
            topic: format!("topic:{to}"),
            unsub: unsub.map(str::to_owned),
        }],
        marks: Vec::new(),
        coalesce_ms: 0,
        now: T0,
    }
}

pub(crate) async fn secrets_come_back_as_given_and_tokens_are_found_by_value(
    store: Arc<dyn Store>,
) {
    add_reseller(store.as_ref(), "r1", None).await;
    let r = store.reseller("r1").await.unwrap().expect("r1");
    assert_eq!(r.webhook_secret, "ws-r1");
    assert_eq!(r.digiflazz_key.as_deref(), Some("dk-r1"));
    assert_eq!(r.callback_format, crate::CallbackFormat::Standard);
    let by_key = store.reseller_by_key_hash("kh-r1").await.unwrap();
    assert_eq!(by_key.expect("by key").webhook_secret, "ws-r1");
    assert!(store
        .rotate_keys("r1", "kh2-r1", "whsec_new", "dk-new", T0 + 1)
        .await
        .unwrap());
    let listed = store.list_resellers().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].webhook_secret, "whsec_new");
    assert_eq!(listed[0].key_hash, "kh2-r1");
    assert_eq!(listed[0].digiflazz_key.as_deref(), Some("dk-new"));
    store
        .create_reseller(crate::NewReseller {
            id: "r2".into(),
            name: "R2".into(),
            email: None,
            callback_url: Some("http://cb.example/".into()),
            key_hash: "kh-r2".into(),
            webhook_secret: "ws-r2".into(),
            digiflazz_key: "dk-r2".into(),
            callback_format: crate::CallbackFormat::Digiflazz,
            now: T0,
        })
        .await
        .unwrap();
    let r2 = store.reseller("r2").await.unwrap().expect("r2");
    assert_eq!(r2.callback_format, crate::CallbackFormat::Digiflazz);
    assert_eq!(r2.digiflazz_key.as_deref(), Some("dk-r2"));
    assert!(!store
        .rotate_keys("nobody", "kh", "whsec_x", "dk", T0 + 2)
        .await
        .unwrap());

    let a = subscriber("01A", "a@x.example", "tok-a");
    store.save_subscriber(a.clone()).await.unwrap();
    store
        .subscribe(
            subscriber("01B", "b@x.example", "tok-b"),
            mail("b@x.example", None),
        )
        .await
        .unwrap();
    let found = store.subscriber_by("unsub_token", "tok-a").await.unwrap();
    assert_eq!(found.as_ref(), Some(&a));
    let found = store.subscriber_by("email", "b@x.example").await.unwrap();
    assert_eq!(found.expect("b").unsub_token, "tok-b");
    assert!(store
        .subscriber_by("unsub_token", "tok-nobody")
        .await
        .unwrap()
        .is_none());
    let confirmed = store.confirmed_subscribers("", 10).await.unwrap();
    let tokens: Vec<&str> = confirmed.iter().map(|s| s.unsub_token.as_str()).collect();
    assert_eq!(tokens, ["tok-a", "tok-b"]);
    // Saved again (unsubscribing), it is the same row, found by the same token.
    let mut gone = a.clone();
    gone.status = "unsubscribed".into();
    gone.unsubscribed_at = Some(T0 + 5);
    store.save_subscriber(gone.clone()).await.unwrap();
    let found = store.subscriber_by("unsub_token", "tok-a").await.unwrap();
    assert_eq!(found, Some(gone));

    store
        .enqueue_notices(mail("a@x.example", Some("tok-a")))
        .await
        .unwrap();
    let claimed = store
        .claim_notices("email", T0 + 10, 10, 1_000)
        .await
        .unwrap();
    let a_mail = claimed
        .iter()
        .find(|n| n.target == "a@x.example")
        .expect("a's mail");
    assert_eq!(a_mail.unsub.as_deref(), Some("tok-a"));
    let b_mail = claimed
        .iter()
        .find(|n| n.target == "b@x.example")
        .expect("b's confirmation");
    assert_eq!(b_mail.unsub, None);
}
