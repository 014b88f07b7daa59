//! Supplier events, maintenance windows and synced price lists on PostgreSQL. Events and
//! windows are news read by cursor: their inserts take the table's advisory lock first.

use deadpool_postgres::GenericClient;

use super::tx::{exec, lock_news, one, rows};
use crate::error::StoreError;
use crate::types::{MaintenanceWindow, SupplierEvent, SupplierProduct};

pub(crate) async fn add_event<C: GenericClient>(
    c: &C,
    e: &SupplierEvent,
) -> Result<i64, StoreError> {
    lock_news(c, "supplier_events").await?;
    Ok(one(
        c,
        "INSERT INTO supplier_events (supplier_id, kind, from_state, to_state, detail, at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        &[
            &e.supplier_id,
            &e.kind,
            &e.from_state,
            &e.to_state,
            &e.detail,
            &e.at,
        ],
    )
    .await?
    .try_get(0)?)
}

pub(crate) async fn events<C: GenericClient>(
    c: &C,
    supplier_id: &str,
    limit: u32,
) -> Result<Vec<SupplierEvent>, StoreError> {
    rows(
        c,
        "SELECT supplier_id, kind, from_state, to_state, detail, at FROM supplier_events
         WHERE supplier_id = $1 ORDER BY id DESC LIMIT $2",
        &[&supplier_id, &i64::from(limit)],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(SupplierEvent {
            supplier_id: r.try_get(0)?,
            kind: r.try_get(1)?,
            from_state: r.try_get(2)?,
            to_state: r.try_get(3)?,
            detail: r.try_get(4)?,
            at: r.try_get(5)?,
        })
    })
    .collect()
}

pub(crate) async fn add_window<C: GenericClient>(
    c: &C,
    w: &MaintenanceWindow,
) -> Result<i64, StoreError> {
    if w.ends_at <= w.starts_at {
        return Err(StoreError::Corrupt(
            "a maintenance window must end after it starts".into(),
        ));
    }
    lock_news(c, "maintenance_windows").await?;
    Ok(one(
        c,
        "INSERT INTO maintenance_windows (supplier_id, starts_at, ends_at, note, source, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        &[&w.supplier_id, &w.starts_at, &w.ends_at, &w.note, &w.source, &w.created_at],
    )
    .await?
    .try_get(0)?)
}

pub(crate) async fn windows<C: GenericClient>(
    c: &C,
    ending_after: i64,
) -> Result<Vec<MaintenanceWindow>, StoreError> {
    rows(
        c,
        "SELECT id, supplier_id, starts_at, ends_at, note, source, created_at FROM maintenance_windows
         WHERE ends_at > $1 ORDER BY starts_at",
        &[&ending_after],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(MaintenanceWindow {
            id: r.try_get(0)?,
            supplier_id: r.try_get(1)?,
            starts_at: r.try_get(2)?,
            ends_at: r.try_get(3)?,
            note: r.try_get(4)?,
            source: r.try_get(5)?,
            created_at: r.try_get(6)?,
        })
    })
    .collect()
}

const UPSERT_PRODUCT: &str = "INSERT INTO supplier_products (supplier_id, sku, price, buyer_status, seller_status, start_cut_off, end_cut_off, synced_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (supplier_id, sku) DO UPDATE SET price = excluded.price,
         buyer_status = excluded.buyer_status, seller_status = excluded.seller_status,
         start_cut_off = excluded.start_cut_off, end_cut_off = excluded.end_cut_off,
         synced_at = excluded.synced_at";

pub(crate) async fn replace_products<C: GenericClient>(
    c: &C,
    supplier_id: &str,
    items: &[SupplierProduct],
) -> Result<(), StoreError> {
    exec(
        c,
        "DELETE FROM supplier_products WHERE supplier_id = $1",
        &[&supplier_id],
    )
    .await?;
    for p in items {
        exec(
            c,
            UPSERT_PRODUCT,
            &[
                &supplier_id,
                &p.sku,
                &p.price,
                &p.buyer_status,
                &p.seller_status,
                &p.start_cut_off,
                &p.end_cut_off,
                &p.synced_at,
            ],
        )
        .await?;
    }
    Ok(())
}

pub(crate) async fn learn_price<C: GenericClient>(
    c: &C,
    supplier_id: &str,
    sku: &str,
    price: i64,
    at: i64,
) -> Result<(), StoreError> {
    exec(
        c,
        "INSERT INTO supplier_products (supplier_id, sku, price, buyer_status, seller_status, start_cut_off, end_cut_off, synced_at)
         VALUES ($1, $2, $3, TRUE, TRUE, '00:00', '00:00', $4)
         ON CONFLICT (supplier_id, sku) DO UPDATE SET price = excluded.price, synced_at = excluded.synced_at",
        &[&supplier_id, &sku, &price, &at],
    )
    .await?;
    Ok(())
}

pub(crate) async fn products<C: GenericClient>(
    c: &C,
) -> Result<Vec<(String, SupplierProduct)>, StoreError> {
    rows(
        c,
        "SELECT supplier_id, sku, price, buyer_status, seller_status, start_cut_off, end_cut_off, synced_at
         FROM supplier_products ORDER BY supplier_id, sku",
        &[],
    )
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.try_get(0)?,
            SupplierProduct {
                sku: r.try_get(1)?,
                price: r.try_get(2)?,
                buyer_status: r.try_get(3)?,
                seller_status: r.try_get(4)?,
                start_cut_off: r.try_get(5)?,
                end_cut_off: r.try_get(6)?,
                synced_at: r.try_get(7)?,
            },
        ))
    })
    .collect()
}
