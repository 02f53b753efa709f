package campaigns

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings/internal/pgtest"
)

// TestClaimPlan_LooksUpEachRow: the claim's generic plan checks the
// mailability of the rows it claims one by one, not of the whole list at
// once: a plan that hashes every subscription on the list makes each claim
// cost as much as the list is long.
func TestClaimPlan_LooksUpEachRow(t *testing.T) {
	t.Parallel()
	db := mustSendingBroadcast(t, 20000)
	db.MustExec(`ANALYZE`)

	tx := db.MustBegin()
	defer tx.Rollback()
	tx.MustExec(`SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL jit = off`)
	tx.MustExec(`PREPARE claim(timestamptz, timestamptz, text) AS ` + claimQuery(100))
	var out []byte
	if err := tx.Get(&out, `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE claim(now(), now() + interval '1 hour', 'plan')`); err != nil {
		t.Fatal(err)
	}
	var plan []struct{ Plan planNode }
	if err := json.Unmarshal(out, &plan); err != nil {
		t.Fatal(err)
	}
	read := map[string]float64{}
	plan[0].Plan.walk(func(p *planNode) { read[p.Relation] += p.Rows * p.Loops })
	for _, rel := range []string{"subscriptions", "subscribers", "outbox"} {
		if read[rel] > 300 {
			t.Errorf("the claim of 100 read %.0f rows of %s; want a few per row claimed\n%s", read[rel], rel, out)
		}
	}
}

// TestCheckPlan_LooksUpEachRow: the last check before a group is sent, in
// its generic plan, looks up the mailability of its rows one by one, not of
// the whole list at once.
func TestCheckPlan_LooksUpEachRow(t *testing.T) {
	t.Parallel()
	db := mustSendingBroadcast(t, 20000)
	db.MustExec(`ANALYZE`)
	db.MustExec(`UPDATE outbox SET claimed_by = 'plan', claimed_until = now() + interval '1 hour' WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT 16)`)
	var ids string // an array literal: EXPLAIN EXECUTE takes no parameters
	if err := db.Get(&ids, `SELECT array_agg(id)::text FROM outbox WHERE claimed_by = 'plan'`); err != nil {
		t.Fatal(err)
	}

	tx := db.MustBegin()
	defer tx.Rollback()
	tx.MustExec(`SET LOCAL plan_cache_mode = force_generic_plan`)
	tx.MustExec(`PREPARE check_claim(bigint[], text, timestamptz) AS ` + checkSQL)
	var out []byte
	if err := tx.Get(&out, `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE check_claim('`+ids+`', 'plan', now())`); err != nil {
		t.Fatal(err)
	}
	var plan []struct{ Plan planNode }
	if err := json.Unmarshal(out, &plan); err != nil {
		t.Fatal(err)
	}
	read := map[string]float64{}
	plan[0].Plan.walk(func(p *planNode) { read[p.Relation] += p.Rows * p.Loops })
	for _, rel := range []string{"subscriptions", "subscribers", "outbox"} {
		if read[rel] > 100 {
			t.Errorf("the check of 16 read %.0f rows of %s; want a few per row\n%s", read[rel], rel, out)
		}
	}
	if read["outbox"] != 16 {
		t.Errorf("the check of 16 found %.0f outbox rows\n%s", read["outbox"], out)
	}
}

type planNode struct {
	Relation string     `json:"Relation Name"`
	Rows     float64    `json:"Actual Rows"`
	Removed  float64    `json:"Rows Removed by Filter"`
	Type     string     `json:"Node Type"`
	Hit      float64    `json:"Shared Hit Blocks"`
	Read     float64    `json:"Shared Read Blocks"`
	Loops    float64    `json:"Actual Loops"`
	Plans    []planNode `json:"Plans"`
}

func (p *planNode) walk(f func(*planNode)) {
	f(p)
	for i := range p.Plans {
		p.Plans[i].walk(f)
	}
}

// TestOutboxPlans: deleting a bonus or a step, and a step's reach, look up
// their outbox rows in an index rather than reading every broadcast's rows
// too (migration 00013). The outbox here holds the 20,000 queued rows of a
// broadcast being sent, the 20,000 sent rows of step 1, and 20 queued rows
// of a bonus and of step 2.
func TestOutboxPlans(t *testing.T) {
	t.Parallel()
	db := mustSendingBroadcast(t, 20000)
	db.MustExec(`
		INSERT INTO bonuses (list_id, position, subject, body, created_at, updated_at)
		VALUES ((SELECT id FROM lists), 1, 'Bonus', 'b', now(), now())`)
	db.MustExec(`
		INSERT INTO steps (list_id, position, subject, body, delay_days, send_time, created_at, updated_at)
		VALUES ((SELECT id FROM lists), 1, 'Step 1', 's', 7, '09:00', now(), now()),
		       ((SELECT id FROM lists), 2, 'Step 2', 's', 7, '09:00', now(), now())`)
	db.MustExec(`
		INSERT INTO outbox (kind, subscriber_id, subscription_id, list_id, bonus_id, ref, priority, status, due_at, created_at, updated_at)
		SELECT 'bonus', s.subscriber_id, s.id, s.list_id, (SELECT id FROM bonuses), (SELECT id FROM bonuses), 1, 'queued', now(), now(), now()
		FROM subscriptions s
		ORDER BY s.id
		LIMIT 20`)
	db.MustExec(`
		INSERT INTO outbox (kind, subscriber_id, subscription_id, list_id, step_id, priority, status, due_at, created_at, updated_at)
		SELECT 'step', s.subscriber_id, s.id, s.list_id, (SELECT id FROM steps WHERE position = 1), 1, 'sent', now(), now(), now()
		FROM subscriptions s`)
	db.MustExec(`
		INSERT INTO outbox (kind, subscriber_id, subscription_id, list_id, step_id, priority, status, due_at, created_at, updated_at)
		SELECT 'step', s.subscriber_id, s.id, s.list_id, (SELECT id FROM steps WHERE position = 2), 1, 'queued', now(), now(), now()
		FROM subscriptions s
		ORDER BY s.id
		LIMIT 20`)
	db.MustExec(`ANALYZE`)
	var list, bonus, step int64
	if err := db.QueryRow(`SELECT (SELECT id FROM lists), (SELECT id FROM bonuses), (SELECT id FROM steps WHERE position = 2)`).Scan(&list, &bonus, &step); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		sql  string
		args []any
	}{
		{"skip a deleted bonus", skipBonusSQL, []any{bonus, "2026-03-02T10:00:00Z"}},
		{"detach a deleted bonus", detachBonusSQL, []any{bonus}},
		{"skip a deleted step", skipStepSQL, []any{step, "2026-03-02T10:00:00Z"}},
		{"a step's reach", stepReachSQL, []any{list, step, 2}},
	}
	for _, tt := range tests {
		tx := db.MustBegin()
		var out []byte
		if err := tx.Get(&out, `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) `+tt.sql, tt.args...); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		tx.Rollback()
		var plan []struct{ Plan planNode }
		if err := json.Unmarshal(out, &plan); err != nil {
			t.Fatal(err)
		}
		// The rows a scan of the outbox returned and filtered out, and the
		// pages it read: an index scan that is not a lookup (on a column
		// that is not its first) reads the whole index and returns few.
		var rows, pages float64
		plan[0].Plan.walk(func(p *planNode) {
			if p.Relation == "outbox" && strings.HasSuffix(p.Type, "Scan") {
				rows += (p.Rows + p.Removed) * p.Loops
				pages += p.Hit + p.Read
			}
		})
		if rows > 100 || pages > 30 {
			t.Errorf("%s read %.0f outbox rows in %.0f pages; want those of the bonus or step (20) in a few\n%s", tt.name, rows, pages, out)
		}
	}
}

// mustSendingBroadcast makes a database with one list of n confirmed
// subscribers and a broadcast to them being sent: its n outbox rows are
// queued.
func mustSendingBroadcast(t *testing.T, n int) *sqlx.DB {
	t.Helper()
	db := pgtest.MustOpenDB(t)
	db.MustExec(`
		INSERT INTO lists (slug, name, from_name, from_email, timezone, postal_address, created_at, updated_at)
		VALUES ('plan', 'Plan', 'Plan', 'plan@example.com', 'UTC', '1 Main St', now(), now())`)
	db.MustExec(`
		INSERT INTO subscribers (email, name, created_at, updated_at)
		SELECT 'reader' || i || '@example.com', 'Reader ' || i, now(), now()
		FROM generate_series(1, $1) AS i`, n)
	db.MustExec(`
		INSERT INTO subscriptions (subscriber_id, list_id, status, confirmed_at, created_at, updated_at)
		SELECT id, (SELECT id FROM lists), 'confirmed', now(), now(), now()
		FROM subscribers`)
	db.MustExec(`
		INSERT INTO broadcasts (list_id, subject, body, status, started_at, created_at, updated_at)
		VALUES ((SELECT id FROM lists), 'S', 'B', 'sending', now(), now(), now())`)
	db.MustExec(`
		INSERT INTO outbox (kind, subscriber_id, subscription_id, list_id, broadcast_id, priority, status, due_at, created_at, updated_at)
		SELECT 'broadcast', s.subscriber_id, s.id, s.list_id, (SELECT id FROM broadcasts), 2, 'queued', now(), now(), now()
		FROM subscriptions s`)
	return db
}
