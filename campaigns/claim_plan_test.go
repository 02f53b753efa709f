package campaigns

import (
	"encoding/json"
	"testing"

	"github.com/tidings/tidings/internal/pgtest"
)

// TestClaimPlan_LooksUpEachRow: the claim's generic plan checks the
// mailability of the rows it claims one by one, not of the whole list at
// once. It read every subscription on the list for each claim when the count
// was a parameter (145 ms for a claim of 100 out of 100,000).
func TestClaimPlan_LooksUpEachRow(t *testing.T) {
	t.Parallel()
	db := pgtest.MustOpenDB(t)
	const n = 20000
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
	db.MustExec(`ANALYZE`)

	tx := db.MustBegin()
	defer tx.Rollback()
	tx.MustExec(`SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL jit = off`)
	tx.MustExec(`PREPARE claim(timestamptz) AS ` + claimQuery(100))
	var out []byte
	if err := tx.Get(&out, `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE claim(now())`); err != nil {
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

type planNode struct {
	Relation string     `json:"Relation Name"`
	Rows     float64    `json:"Actual Rows"`
	Loops    float64    `json:"Actual Loops"`
	Plans    []planNode `json:"Plans"`
}

func (p *planNode) walk(f func(*planNode)) {
	f(p)
	for i := range p.Plans {
		p.Plans[i].walk(f)
	}
}
