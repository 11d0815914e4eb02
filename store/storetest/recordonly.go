package storetest

import "github.com/deviceauth/deviceauth/store"

// RecordOnly returns st with its record methods only: those of store.Store,
// and of store.RecoveryCodeStore and store.CeremonyStore when st has them,
// but not the cycle steps of store.CycleStore (nor Sweep). Whoever uses it,
// the suite or a Service, then makes each cycle step of the record methods,
// as it does for a store that implements no more. A store that implements
// the cycle steps can run the suite over RecordOnly of itself too, to prove
// its record methods carry the contract alone.
func RecordOnly(st store.Store) store.Store {
	rs, recovery := st.(store.RecoveryCodeStore)
	cs, ceremonies := st.(store.CeremonyStore)
	switch {
	case recovery && ceremonies:
		return struct {
			store.Store
			store.RecoveryCodeStore
			store.CeremonyStore
		}{st, rs, cs}
	case recovery:
		return struct {
			store.Store
			store.RecoveryCodeStore
		}{st, rs}
	case ceremonies:
		return struct {
			store.Store
			store.CeremonyStore
		}{st, cs}
	}
	return struct{ store.Store }{st}
}
