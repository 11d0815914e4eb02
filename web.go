package deviceauth

import (
	"net/http"
)

// The web endpoints serve the logged-in user (Config.Users) from the
// application's own pages: mint a registration token, list and remove
// credentials. They are mounted by Handler under /v1/web/ and protected
// against cross-origin requests with http.CrossOriginProtection.
//
//	POST   /v1/web/registration-tokens   mint a registration token (step-up when enrolled)
//	GET    /v1/web/credentials           list the user's credentials
//	DELETE /v1/web/credentials/{id}      remove one (step-up while others remain)
//	PATCH  /v1/web/credentials/{id}      rename one ({"name": …})
//	GET    /v1/web/challenges/{id}       a challenge's state, long-polling with ?since=S&wait=D
//
// Step-up works as on a gated route: without a Deviceauth-Token header the
// answer is 401 challenge_required for addAuthenticator or
// removeAuthenticator; the client retries with the token once the device
// approved.
func (s *Service) webRoutes(route func(pattern, method string, h func(http.ResponseWriter, *http.Request))) {
	route("/v1/web/registration-tokens", http.MethodPost, s.handleMint)
	route("/v1/web/credentials", http.MethodGet, s.handleListCredentials)
	route("/v1/web/credentials/{id}", http.MethodDelete, s.handleRemoveCredential)
	route("/v1/web/credentials/{id}", http.MethodPatch, s.handleRenameCredential)
	route("/v1/web/challenges/{id}", http.MethodGet, s.handleChallengeState)
}

// webUser resolves the logged-in user, writing the refusal when there is
// none.
func (s *Service) webUser(w http.ResponseWriter, r *http.Request) (string, bool) {
	if s.cfg.Users == nil {
		writeDenial(w, deny(errUnauthenticated))
		return "", false
	}
	user, err := s.cfg.Users.ResolveUser(r)
	if err != nil {
		writeDenial(w, deny(ErrUnavailable.with(err)))
		return "", false
	}
	if user == "" {
		writeDenial(w, deny(errUnauthenticated))
		return "", false
	}
	return user, true
}

// stepUpDenial answers a step-up refusal: a new challenge when the request
// carried no token, challenge_failed when its token did not validate.
func (s *Service) stepUpDenial(w http.ResponseWriter, r *http.Request, user, action string, details Details) {
	if r.Header.Get(TokenHeader) != "" {
		writeDenial(w, &Denial{Status: http.StatusForbidden, Body: DenialBody{Error: "challenge_failed",
			Message: "the token is not valid for this user and action", State: StateChallengeFailed}})
		return
	}
	writeDenial(w, s.StepUp(r, user, action, details))
}

// StepUp starts a step-up challenge for action outside Require — for a
// server-rendered page that mints a registration token or removes a
// device and must ask the user's device first. It returns the refusal
// Require would answer: 401 challenge_required with the challenge ID and
// token, or blocked, review, enrollment_required, unavailable. The
// challenge asks for number matching unless Config.ApproveOnly. Retry the
// operation with the token once the device approved.
func (s *Service) StepUp(r *http.Request, userID, action string, details Details) *Denial {
	res, err := s.Track(r.Context(), TrackRequest{UserID: userID, Action: action, Details: details, ClientIP: s.ClientIP(r),
		UserAgent: r.UserAgent(), VerificationCode: !s.cfg.ApproveOnly})
	if err != nil {
		return deny(err)
	}
	_, d := s.trackDenial(userID, action, details, res)
	if d == nil { // a policy allowed the step-up action without a challenge: still no token
		d = deny(ErrStepUpRequired)
	}
	return d
}

func (s *Service) handleMint(w http.ResponseWriter, r *http.Request) {
	user, ok := s.webUser(w, r)
	if !ok {
		return
	}
	g, err := s.MintRegistrationToken(withClientIP(r.Context(), s.ClientIP(r)), user, r.Header.Get(TokenHeader))
	if err == errResetLocked {
		writeError(w, err)
		return
	}
	if isStepUp(err) {
		s.stepUpDenial(w, r, user, ActionAddAuthenticator, Details{})
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, g)
}

// CredentialList is the JSON of GET /v1/web/credentials.
type CredentialList struct {
	Credentials []Credential `json:"credentials"`
}

func (s *Service) handleListCredentials(w http.ResponseWriter, r *http.Request) {
	user, ok := s.webUser(w, r)
	if !ok {
		return
	}
	cs, err := s.Credentials(r.Context(), user)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, CredentialList{Credentials: cs})
}

func (s *Service) handleRemoveCredential(w http.ResponseWriter, r *http.Request) {
	user, ok := s.webUser(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	err := s.RemoveCredential(withClientIP(r.Context(), s.ClientIP(r)), user, id, r.Header.Get(TokenHeader))
	if isStepUp(err) {
		d, lerr := s.removalDetails(r.Context(), user, id)
		if lerr != nil {
			writeError(w, lerr)
			return
		}
		s.stepUpDenial(w, r, user, ActionRemoveAuthenticator, d)
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
