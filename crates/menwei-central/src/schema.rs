//! The schema, as migrations applied in order on both engines (see [`crate::db`]): `{pk}` is the
//! auto-increment key; times are milliseconds since the epoch in `BIGINT`; flags are 0/1.
//!
//! Face templates have no column here, by design: central records only whether a resident has
//! face entry enabled and their consent.

pub const MIGRATIONS: &[&str] = &[
    // 1: ingestion.
    "
CREATE TABLE events (
    id          {pk},
    compound    TEXT    NOT NULL,
    seq         BIGINT  NOT NULL,
    event_id    TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    class       TEXT    NOT NULL,
    gate        TEXT,
    grid_id     BIGINT,
    entry_kind  TEXT,
    resident_ref TEXT,
    occurred_at TEXT,
    payload     TEXT    NOT NULL,
    received_ms BIGINT  NOT NULL,
    order_id    BIGINT,
    UNIQUE (compound, seq)
);
CREATE INDEX events_kind ON events (compound, kind);
CREATE INDEX events_grid ON events (grid_id, id);
CREATE INDEX events_resident ON events (resident_ref);
CREATE TABLE edges (
    compound         TEXT PRIMARY KEY,
    contiguous_seq   BIGINT NOT NULL DEFAULT 0,
    highest_seq      BIGINT NOT NULL DEFAULT 0,
    duplicates       BIGINT NOT NULL DEFAULT 0,
    status           TEXT,
    heartbeat        TEXT,
    last_seen_ms     BIGINT,
    applied_version  BIGINT NOT NULL DEFAULT 0
);
",
    // 2: the governance model, the register, work orders, access control and audit.
    "
CREATE TABLE districts (
    id   {pk},
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE communities (
    id          {pk},
    district_id BIGINT NOT NULL REFERENCES districts (id),
    name        TEXT NOT NULL,
    UNIQUE (district_id, name)
);
CREATE TABLE property_companies (
    id   {pk},
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL
);
CREATE TABLE grids (
    id           {pk},
    community_id BIGINT NOT NULL REFERENCES communities (id),
    name         TEXT NOT NULL,
    UNIQUE (community_id, name)
);
CREATE TABLE compounds (
    id                  {pk},
    code                TEXT NOT NULL UNIQUE,
    community_id        BIGINT NOT NULL REFERENCES communities (id),
    name                TEXT NOT NULL,
    property_company_id BIGINT REFERENCES property_companies (id),
    x DOUBLE PRECISION NOT NULL DEFAULT 0, y DOUBLE PRECISION NOT NULL DEFAULT 0,
    w DOUBLE PRECISION NOT NULL DEFAULT 0, h DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE TABLE gates (
    id          {pk},
    compound_id BIGINT NOT NULL REFERENCES compounds (id),
    name        TEXT NOT NULL,
    grid_id     BIGINT NOT NULL REFERENCES grids (id),
    x DOUBLE PRECISION NOT NULL DEFAULT 0, y DOUBLE PRECISION NOT NULL DEFAULT 0,
    UNIQUE (compound_id, name)
);
CREATE TABLE cameras (
    id      {pk},
    gate_id BIGINT NOT NULL REFERENCES gates (id),
    name    TEXT NOT NULL,
    role    TEXT NOT NULL,
    UNIQUE (gate_id, name)
);
CREATE TABLE buildings (
    id          {pk},
    compound_id BIGINT NOT NULL REFERENCES compounds (id),
    grid_id     BIGINT NOT NULL REFERENCES grids (id),
    name        TEXT NOT NULL,
    x DOUBLE PRECISION NOT NULL DEFAULT 0, y DOUBLE PRECISION NOT NULL DEFAULT 0,
    w DOUBLE PRECISION NOT NULL DEFAULT 0, h DOUBLE PRECISION NOT NULL DEFAULT 0,
    UNIQUE (compound_id, name)
);
CREATE TABLE units (
    id          {pk},
    building_id BIGINT NOT NULL REFERENCES buildings (id),
    name        TEXT NOT NULL,
    UNIQUE (building_id, name)
);
CREATE TABLE households (
    id      {pk},
    ref     TEXT NOT NULL UNIQUE,
    unit_id BIGINT NOT NULL REFERENCES units (id),
    room    TEXT NOT NULL,
    phone   TEXT
);
CREATE TABLE residents (
    id             {pk},
    ref            TEXT NOT NULL UNIQUE,
    household_id   BIGINT NOT NULL REFERENCES households (id),
    name           TEXT NOT NULL,
    phone          TEXT,
    status         TEXT NOT NULL DEFAULT 'active',
    face_enabled   BIGINT NOT NULL DEFAULT 0,
    consent_at     TEXT,
    consent_method TEXT,
    guardian       TEXT,
    erased_ms      BIGINT
);
CREATE TABLE vehicles (
    id           {pk},
    plate        TEXT NOT NULL UNIQUE,
    household_id BIGINT NOT NULL REFERENCES households (id),
    color        TEXT,
    blocked      BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE passes (
    id             {pk},
    compound_id    BIGINT NOT NULL REFERENCES compounds (id),
    household_id   BIGINT NOT NULL REFERENCES households (id),
    kind           TEXT NOT NULL,
    plate          TEXT,
    token_hash     TEXT,
    visitor        TEXT NOT NULL,
    valid_from_ms  BIGINT NOT NULL,
    valid_until_ms BIGINT NOT NULL,
    revoked_ms     BIGINT,
    created_ms     BIGINT NOT NULL,
    created_by     TEXT NOT NULL
);
CREATE TABLE staff (
    id      {pk},
    grid_id BIGINT NOT NULL REFERENCES grids (id),
    name    TEXT NOT NULL,
    role    TEXT NOT NULL,
    phone   TEXT
);
CREATE TABLE users (
    id                  {pk},
    username            TEXT NOT NULL UNIQUE,
    password_hash       TEXT NOT NULL,
    role                TEXT NOT NULL,
    staff_id            BIGINT REFERENCES staff (id),
    property_company_id BIGINT REFERENCES property_companies (id),
    disabled            BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE user_grids (
    user_id BIGINT NOT NULL REFERENCES users (id),
    grid_id BIGINT NOT NULL REFERENCES grids (id),
    PRIMARY KEY (user_id, grid_id)
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    expires_ms BIGINT NOT NULL
);
CREATE TABLE audit (
    id       {pk},
    at_ms    BIGINT NOT NULL,
    username TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    detail   TEXT
);
CREATE TABLE work_orders (
    id              {pk},
    grid_id         BIGINT,
    compound        TEXT NOT NULL,
    gate            TEXT,
    kind            TEXT NOT NULL,
    state           TEXT NOT NULL,
    assignee        BIGINT REFERENCES staff (id),
    opened_ms       BIGINT NOT NULL,
    due_ms          BIGINT NOT NULL,
    last_event_ms   BIGINT NOT NULL,
    events          BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX work_orders_open ON work_orders (compound, kind, state);
CREATE TABLE work_order_history (
    id       {pk},
    order_id BIGINT NOT NULL REFERENCES work_orders (id),
    at_ms    BIGINT NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    note     TEXT
);
CREATE TABLE webhook_deliveries (
    id           {pk},
    url          TEXT NOT NULL,
    body         TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_ms      BIGINT NOT NULL,
    delivered_ms BIGINT,
    failed_ms    BIGINT,
    last_error   TEXT
);
CREATE TABLE sync_batches (
    compound   TEXT NOT NULL,
    version    BIGINT NOT NULL,
    body       TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (compound, version)
);
CREATE TABLE erasures (
    id           {pk},
    resident_ref TEXT NOT NULL,
    requested_ms BIGINT NOT NULL,
    requested_by TEXT NOT NULL
);
CREATE TABLE erasure_targets (
    erasure_id   BIGINT NOT NULL REFERENCES erasures (id),
    compound     TEXT NOT NULL,
    version      BIGINT NOT NULL,
    confirmed_ms BIGINT,
    PRIMARY KEY (erasure_id, compound)
);
",
    // 3: register distribution claimed per compound and broker, so that of several instances on
    // one broker one sends each round of sync batches (`register::claim_sync`).
    "
CREATE TABLE sync_pushes (
    compound TEXT NOT NULL,
    broker   TEXT NOT NULL,
    version  BIGINT NOT NULL,
    at_ms    BIGINT NOT NULL,
    PRIMARY KEY (compound, broker)
);
",
    // 4: events naming a gate or camera the structure does not have: stored, marked, and one
    // warning per compound and name for the dashboard's edge list (`store::ingest`).
    "
ALTER TABLE events ADD COLUMN unknown_source TEXT;
CREATE TABLE edge_warnings (
    compound TEXT NOT NULL,
    what     TEXT NOT NULL,
    first_ms BIGINT NOT NULL,
    last_ms  BIGINT NOT NULL,
    events   BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (compound, what)
);
",
];
