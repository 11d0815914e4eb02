package deviceauth

import (
	"net/http"
)

// webUser resolves the logged-in user, writing the refusal when there is
// none.
func (s *Service) webUser(w http.ResponseWriter, r *http.Request) (string, bool) {
	if s.cfg.Users == nil {
		s.writeDenial(w, r, deny(ErrUnauthenticated))
		return "", false
	}
	user, err := s.cfg.Users.ResolveUser(r)
	if err != nil {
		s.writeDenial(w, r, deny(ErrUnavailable.with(err)))
		return "", false
	}
	if user == "" {
		s.writeDenial(w, r, deny(ErrUnauthenticated))
		return "", false
	}
	return user, true
}

// webUserBody resolves the logged-in user and reads the capped body,
// writing the refusal when either fails.
func (s *Service) webUserBody(w http.ResponseWriter, r *http.Request) (string, []byte, bool) {
	user, ok := s.webUser(w, r)
	if !ok {
		return "", nil, false
	}
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return "", nil, false
	}
	return user, body, true
}

// stepUpDenial answers a step-up refusal: a new challenge when the request
// carried no token, challenge_failed when its token did not validate.
func (s *Service) stepUpDenial(w http.ResponseWriter, r *http.Request, user, action string, details Details) {
	if r.Header.Get(TokenHeader) != "" {
		s.writeDenial(w, r, &Denial{Status: http.StatusForbidden, Body: DenialBody{Error: "challenge_failed",
			Message: "the token is not valid for this user and action", State: StateChallengeFailed}})
		return
	}
	s.writeDenial(w, r, s.stepUpRefusal(r, user, action, details))
}

// stepUpRefusal starts a step-up challenge for action outside Require — for a
// server-rendered page that mints a registration token or removes a
// device and must ask the user's device first. It returns the refusal
// Require would answer: 401 challenge_required with the challenge ID and
// token, or blocked, review, enrollment_required, unavailable. The
// challenge asks for number matching unless Config.ApproveOnly. Retry the
// operation with the token once the device approved.
func (s *Service) stepUpRefusal(r *http.Request, userID, action string, details Details) *Denial {
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
		s.fail(w, r, err)
		return
	}
	if isStepUp(err) {
		s.stepUpDenial(w, r, user, ActionAddAuthenticator, Details{})
		return
	}
	if err != nil {
		s.fail(w, r, err)
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
		s.fail(w, r, err)
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
			s.fail(w, r, lerr)
			return
		}
		s.stepUpDenial(w, r, user, ActionRemoveAuthenticator, d)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
