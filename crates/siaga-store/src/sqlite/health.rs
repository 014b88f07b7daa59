//! Supplier events, maintenance windows and synced price lists.

use rusqlite::{params, Connection};

use crate::error::StoreError;
use crate::types::{MaintenanceWindow, SupplierEvent, SupplierProduct};

pub(crate) fn add_event(c: &Connection, e: &SupplierEvent) -> Result<i64, StoreError> {
    Ok(c.prepare_cached(
        "INSERT INTO supplier_events (supplier_id, kind, from_state, to_state, detail, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
    )?
    .query_row(
        params![
            e.supplier_id,
            e.kind,
            e.from_state,
            e.to_state,
            e.detail,
            e.at
        ],
        |r| r.get(0),
    )?)
}

pub(crate) fn events(
    c: &Connection,
    supplier_id: &str,
    limit: u32,
) -> Result<Vec<SupplierEvent>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT supplier_id, kind, from_state, to_state, detail, at FROM supplier_events
         WHERE supplier_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = st.query_map(params![supplier_id, limit], |r| {
        Ok(SupplierEvent {
            supplier_id: r.get(0)?,
            kind: r.get(1)?,
            from_state: r.get(2)?,
            to_state: r.get(3)?,
            detail: r.get(4)?,
            at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn add_window(c: &Connection, w: &MaintenanceWindow) -> Result<i64, StoreError> {
    if w.ends_at <= w.starts_at {
        return Err(StoreError::Corrupt(
            "a maintenance window must end after it starts".into(),
        ));
    }
    Ok(c.prepare_cached(
        "INSERT INTO maintenance_windows (supplier_id, starts_at, ends_at, note, source, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
    )?
    .query_row(params![w.supplier_id, w.starts_at, w.ends_at, w.note, w.source, w.created_at], |r| r.get(0))?)
}

pub(crate) fn windows(
    c: &Connection,
    ending_after: i64,
) -> Result<Vec<MaintenanceWindow>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT id, supplier_id, starts_at, ends_at, note, source, created_at FROM maintenance_windows
         WHERE ends_at > ?1 ORDER BY starts_at",
    )?;
    let rows = st.query_map([ending_after], |r| {
        Ok(MaintenanceWindow {
            id: r.get(0)?,
            supplier_id: r.get(1)?,
            starts_at: r.get(2)?,
            ends_at: r.get(3)?,
            note: r.get(4)?,
            source: r.get(5)?,
            created_at: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn replace_products(
    c: &Connection,
    supplier_id: &str,
    items: &[SupplierProduct],
) -> Result<(), StoreError> {
    c.prepare_cached("DELETE FROM supplier_products WHERE supplier_id = ?1")?
        .execute([supplier_id])?;
    let mut st = c.prepare_cached(
        "INSERT OR REPLACE INTO supplier_products (supplier_id, sku, price, buyer_status, seller_status, start_cut_off, end_cut_off, synced_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for p in items {
        st.execute(params![
            supplier_id,
            p.sku,
            p.price,
            p.buyer_status,
            p.seller_status,
            p.start_cut_off,
            p.end_cut_off,
            p.synced_at
        ])?;
    }
    Ok(())
}

pub(crate) fn learn_price(
    c: &Connection,
    supplier_id: &str,
    sku: &str,
    price: i64,
    at: i64,
) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO supplier_products (supplier_id, sku, price, buyer_status, seller_status, start_cut_off, end_cut_off, synced_at)
         VALUES (?1, ?2, ?3, 1, 1, '00:00', '00:00', ?4)
         ON CONFLICT (supplier_id, sku) DO UPDATE SET price = excluded.price, synced_at = excluded.synced_at",
    )?
    .execute(params![supplier_id, sku, price, at])?;
    Ok(())
}

pub(crate) fn products(c: &Connection) -> Result<Vec<(String, SupplierProduct)>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT supplier_id, sku, price, buyer_status, seller_status, start_cut_off, end_cut_off, synced_at FROM supplier_products",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            SupplierProduct {
                sku: r.get(1)?,
                price: r.get(2)?,
                buyer_status: r.get(3)?,
                seller_status: r.get(4)?,
                start_cut_off: r.get(5)?,
                end_cut_off: r.get(6)?,
                synced_at: r.get(7)?,
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
