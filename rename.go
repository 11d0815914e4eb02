package deviceauth

import (
	"context"
	"errors"
	"net/http"

	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/store"
)

// RenameCredential sets the name of userID's credential credentialID, as
// the user sees it in a device list: 1 to 64 bytes of printable UTF-8, the
// rule of a registration's name (which may also be empty). Renaming needs
// no step-up: a name grants nothing. ErrNotFound when the user has no such
// credential.
func (s *Service) RenameCredential(ctx context.Context, userID, credentialID, name string) (Credential, error) {
	if !validUserID(userID) || !protocol.ValidID(credentialID) {
		return Credential{}, ErrNotFound
	}
	if name == "" || len(name) > maxNameBytes || !validText(name) {
		return Credential{}, ErrInvalidRequest.withMessage("name must be 1 to 64 bytes of printable UTF-8")
	}
	c, err := s.store.UpdateCredential(ctx, userID, credentialID, store.CredentialUpdate{Name: &name})
	if errors.Is(err, store.ErrNotFound) {
		return Credential{}, ErrNotFound
	}
	if err != nil {
		return Credential{}, s.storeFailed(ctx, err)
	}
	return publicCredential(c), nil
}

// renameBody is the JSON of PATCH /v1/web/credentials/{id}.
type renameBody struct {
	Name string `json:"name"`
}

func (s *Service) handleRenameCredential(w http.ResponseWriter, r *http.Request) {
	user, ok := s.webUser(w, r)
	if !ok {
		return
	}
	var b renameBody
	if !s.readJSON(w, r, &b) {
		return
	}
	c, err := s.RenameCredential(r.Context(), user, r.PathValue("id"), b.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}
