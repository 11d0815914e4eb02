package instancetest

import (
	"testing"

	"github.com/deviceauth/deviceauth/store/memstore"
)

// memstore values do not share a backend, so the many-instances proof runs
// over one value used by both instances: it checks the proof itself.
func TestManyInstances_OneMemstore(t *testing.T) {
	st := memstore.New()
	ManyInstances(t, st, st, 20)
}

func TestOutage_InjectedErrors(t *testing.T) {
	st := &Faulty{Store: memstore.New()}
	Outage(t, st, func() { st.Fail.Store(true) }, func() { st.Fail.Store(false) })
}
