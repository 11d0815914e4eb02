package com.github.deviceauth.client;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The device side of the deviceauth protocol (docs/protocol.md) for one ES256 (P-256) key:
 * register the key, fetch challenges with RFC 9421 signed requests, approve or deny them.
 *
 * <p>Every signature is {@code SHA256withECDSA}, exactly what an Android Keystore key gives;
 * responses and the registration proof are sent in that DER form ({@code "signatureFormat":
 * "der"}), request signatures are converted to raw {@code r‖s} by {@link HttpSignature}. The
 * client rebuilds every signed message from the challenge it fetched: the details it shows are
 * the details it signs.
 */
public final class DeviceClient {
    /** The protocol algorithm of this client's keys. */
    public static final String ALGORITHM = "ES256";

    static final String LABEL_REGISTER = "deviceauth/v1/register";
    static final String LABEL_RESPONSE = "deviceauth/v1/response";
    static final String LABEL_DETAILS = "deviceauth/v1/details";

    // Server-made IDs, so they can go into a path unescaped.
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9_-]{1,64}");

    private final String baseUrl;
    private final PrivateKey privateKey;
    private final PublicKey publicKey;
    private final HttpClient http = HttpClient.newHttpClient();
    private String credentialId;

    /**
     * A client for the deviceauth handler at baseUrl (the server's {@code PublicURL}, e.g.
     * {@code https://app.example.com/deviceauth}) signing with key. credentialId is null until
     * {@link #register} sets it, or the ID a previous registration returned.
     */
    public DeviceClient(String baseUrl, KeyPair key, String credentialId) {
        URI u = URI.create(baseUrl);
        if (!("http".equals(u.getScheme()) || "https".equals(u.getScheme())) || u.getHost() == null) {
            throw new IllegalArgumentException("base URL " + baseUrl + " is not an absolute http(s) URL");
        }
        this.baseUrl = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
        this.privateKey = key.getPrivate();
        this.publicKey = key.getPublic();
        this.credentialId = credentialId;
    }

    /** A new software P-256 key. On Android, generate it in AndroidKeyStore instead (README). */
    public static KeyPair newKey() throws GeneralSecurityException {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair();
    }

    /** The credential ID, the {@code keyid} of signed requests; null before registration. */
    public String credentialId() {
        return credentialId;
    }

    /**
     * Binds the key to the user of registrationToken ({@code drt_…}) with a proof of possession
     * and keeps the credential ID. Returns the server's answer: {@code id}, {@code kind},
     * {@code algorithm}, {@code name}, {@code platform}, {@code createdAt}.
     */
    public Map<String, Object> register(String registrationToken, String name, String platform)
            throws IOException, GeneralSecurityException {
        byte[] spki = publicKey.getEncoded(); // X.509 SubjectPublicKeyInfo DER
        byte[] proof = sign(registrationMessage(registrationToken, ALGORITHM, spki, name, platform));
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("token", registrationToken);
        body.put("algorithm", ALGORITHM);
        body.put("publicKey", b64url(spki));
        body.put("signatureFormat", "der");
        body.put("signature", b64url(proof));
        body.put("name", name);
        body.put("platform", platform);
        Map<String, Object> cred = asMap(send("POST", "/v1/credentials", body, false));
        credentialId = (String) cred.get("id");
        return cred;
    }

    /** Fetches challenge id with a signed request. */
    public Challenge challenge(String id) throws IOException, GeneralSecurityException {
        return new Challenge(asMap(send("GET", "/v1/challenges/" + checkId(id), null, true)));
    }

    /** Lists the user's pending challenges, oldest first, with a signed request. */
    public List<Challenge> pending() throws IOException, GeneralSecurityException {
        Map<String, Object> answer = asMap(send("GET", "/v1/challenges", null, true));
        List<Challenge> out = new ArrayList<>();
        for (Object c : (List<?>) answer.get("challenges")) {
            out.add(new Challenge(asMap(c)));
        }
        return out;
    }

    /**
     * Approves ch; code is the verification code the user typed, or null when none was asked.
     * Returns {@code {"challengeId": …, "state": "APPROVED"}}.
     */
    public Map<String, Object> approve(Challenge ch, String code) throws IOException, GeneralSecurityException {
        return respond(ch, "approve", null, code);
    }

    /** Denies ch with an optional reason such as {@code not_me} (null for none). */
    public Map<String, Object> deny(Challenge ch, String reason) throws IOException, GeneralSecurityException {
        return respond(ch, "deny", reason, null);
    }

    private Map<String, Object> respond(Challenge ch, String decision, String reason, String code)
            throws IOException, GeneralSecurityException {
        if (credentialId == null) {
            throw new IllegalStateException("no credential ID: register first");
        }
        byte[] sig = sign(responseMessage(ch, credentialId, decision, reason, code));
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("credentialId", credentialId);
        body.put("decision", decision);
        if (reason != null && !reason.isEmpty()) {
            body.put("denyReason", reason);
        }
        if (code != null && !code.isEmpty()) {
            body.put("verificationCode", code);
        }
        body.put("signatureFormat", "der");
        body.put("signature", b64url(sig));
        return asMap(send("POST", "/v1/challenges/" + checkId(ch.id) + "/response", body, false));
    }

    /** SHA256withECDSA over message: DER, what Android Keystore gives. */
    private byte[] sign(byte[] message) throws GeneralSecurityException {
        Signature s = Signature.getInstance("SHA256withECDSA");
        s.initSign(privateKey);
        s.update(message);
        return s.sign();
    }

    // ---- Signed messages (docs/protocol.md, "Signed messages") ----

    /** The registration proof of possession: token hash, algorithm, key bytes, name, platform. */
    static byte[] registrationMessage(String token, String alg, byte[] publicKey, String name, String platform)
            throws GeneralSecurityException {
        byte[] tokenHash = sha256(token.getBytes(StandardCharsets.US_ASCII));
        return frame(LABEL_REGISTER, tokenHash, utf8(alg), publicKey, utf8(name), utf8(platform));
    }

    /** The challenge response message; absent reason and code are empty fields. */
    static byte[] responseMessage(Challenge ch, String credentialId, String decision, String reason, String code)
            throws GeneralSecurityException {
        return frame(LABEL_RESPONSE, utf8(ch.id), ch.nonce, utf8(ch.action), utf8(credentialId),
                utf8(decision), utf8(reason), utf8(code), detailsDigest(ch.message, ch.fields));
    }

    /** SHA-256 of label ‖ 0x00 ‖ field(message) ‖ uint32be(count) ‖ field(label₁) ‖ field(value₁) ‖ … */
    static byte[] detailsDigest(String message, List<String[]> fields) throws GeneralSecurityException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        write(b, frame(LABEL_DETAILS, utf8(message)));
        write(b, ByteBuffer.allocate(4).putInt(fields.size()).array());
        for (String[] f : fields) {
            writeField(b, utf8(f[0]));
            writeField(b, utf8(f[1]));
        }
        return sha256(b.toByteArray());
    }

    /** label ‖ 0x00 ‖ (uint32be(len) ‖ bytes) for each field. */
    static byte[] frame(String label, byte[]... fields) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        write(b, utf8(label));
        b.write(0);
        for (byte[] f : fields) {
            writeField(b, f);
        }
        return b.toByteArray();
    }

    private static void writeField(ByteArrayOutputStream b, byte[] f) {
        write(b, ByteBuffer.allocate(4).putInt(f.length).array());
        write(b, f);
    }

    // write is ByteArrayOutputStream.writeBytes, which Android has only from API 33.
    private static void write(ByteArrayOutputStream b, byte[] bytes) {
        b.write(bytes, 0, bytes.length);
    }

    // ---- HTTP ----

    /**
     * Sends a JSON request and returns the parsed 2xx answer (an empty map for 204); any other
     * status is an {@link ApiException}. This is the one place to swap for OkHttp or
     * HttpURLConnection on Android, which has no java.net.http.
     */
    private Object send(String method, String path, Map<String, Object> body, boolean signed)
            throws IOException, GeneralSecurityException {
        URI uri = URI.create(baseUrl + path);
        byte[] raw = body == null ? new byte[0] : Json.write(body).getBytes(StandardCharsets.UTF_8);
        HttpRequest.Builder req = HttpRequest.newBuilder(uri)
                .method(method, raw.length == 0 ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(raw))
                .header("Accept", "application/json");
        if (body != null) {
            req.header("Content-Type", "application/json");
        }
        if (signed) {
            signatureHeaders(method, uri, raw).forEach(req::header);
        }
        HttpResponse<String> resp;
        try {
            resp = http.send(req.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        String text = resp.body();
        if (resp.statusCode() / 100 != 2) {
            throw ApiException.from(resp.statusCode(), text);
        }
        return text.isEmpty() ? new LinkedHashMap<String, Object>() : Json.parse(text);
    }

    /**
     * The RFC 9421 headers for a request to uri with body (empty for none), signed now with a
     * fresh nonce: {@code Signature-Input}, {@code Signature} and, with a body,
     * {@code Content-Digest}.
     */
    public Map<String, String> signatureHeaders(String method, URI uri, byte[] body) throws GeneralSecurityException {
        if (credentialId == null) {
            throw new IllegalStateException("no credential ID: register first");
        }
        long now = System.currentTimeMillis() / 1000;
        return HttpSignature.sign(method, uri, body, credentialId, privateKey, now, HttpSignature.newNonce());
    }

    // ---- Values ----

    /** A challenge as the device sees it; {@link #json} is the server's whole answer. */
    public static final class Challenge {
        public final String id;
        public final String action;
        public final String state;
        /** The nonce, decoded; it goes into the response message. */
        public final byte[] nonce;
        /** The details' message and labelled fields: show them as plain text, exactly. */
        public final String message;
        public final List<String[]> fields = new ArrayList<>();
        /** Ask the user to type the code shown on the other screen. */
        public final boolean verificationCodeRequired;
        public final Map<String, Object> json;

        Challenge(Map<String, Object> json) {
            this.json = json;
            this.id = (String) json.get("challengeId");
            this.action = (String) json.get("action");
            this.state = (String) json.get("state");
            this.nonce = Base64.getUrlDecoder().decode((String) json.get("nonce"));
            Map<String, Object> details = json.get("details") == null ? Collections.<String, Object>emptyMap() : asMap(json.get("details"));
            this.message = details.get("message") == null ? "" : (String) details.get("message");
            if (details.get("fields") != null) {
                for (Object f : (List<?>) details.get("fields")) {
                    Map<String, Object> m = asMap(f);
                    fields.add(new String[] {(String) m.get("label"), (String) m.get("value")});
                }
            }
            this.verificationCodeRequired = Boolean.TRUE.equals(json.get("verificationCodeRequired"));
        }

        /** The details digest this client signs, for display in tests and logs (not secret). */
        public byte[] detailsDigest() throws GeneralSecurityException {
            return DeviceClient.detailsDigest(message, fields);
        }
    }

    /** An error answer: {@code {"error": code, "message": …, "state": …}} with its status. */
    public static final class ApiException extends IOException {
        private static final long serialVersionUID = 1L;

        public final int status;
        /** The {@code error} member, e.g. {@code wrong_code}. */
        public final String code;
        /** The challenge state where the error is about one, else null. */
        public final String state;

        ApiException(int status, String code, String message, String state) {
            super("server answered " + status + " " + code + ": " + message);
            this.status = status;
            this.code = code;
            this.state = state;
        }

        static ApiException from(int status, String text) {
            try {
                Map<String, Object> m = asMap(Json.parse(text));
                return new ApiException(status, (String) m.get("error"), (String) m.get("message"), (String) m.get("state"));
            } catch (RuntimeException notJson) {
                return new ApiException(status, null, text, null);
            }
        }
    }

    // ---- Small helpers ----

    private static String checkId(String id) {
        if (id == null || !ID.matcher(id).matches()) {
            throw new IllegalArgumentException("not a deviceauth ID: " + id);
        }
        return id;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> asMap(Object o) {
        if (!(o instanceof Map)) {
            throw new IllegalArgumentException("expected a JSON object");
        }
        return (Map<String, Object>) o;
    }

    static String b64url(byte[] b) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    private static byte[] utf8(String s) {
        return s == null ? new byte[0] : s.getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] sha256(byte[] b) throws GeneralSecurityException {
        return MessageDigest.getInstance("SHA-256").digest(b);
    }
}
