package com.github.deviceauth.client;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Signs a request with HTTP Message Signatures (RFC 9421) in the deviceauth profile
 * (docs/protocol.md, "Device-signed requests"): one signature labelled {@code deviceauth} with
 * {@code tag="deviceauth"}, covering {@code "@method" "@authority" "@path" "@query"} and, when
 * there is a body, {@code "content-digest"}; ECDSA P-256 signatures raw {@code r‖s}.
 */
public final class HttpSignature {
    /** The signature's label and its {@code tag} parameter. */
    public static final String LABEL = "deviceauth";
    /** The RFC 9421 algorithm name of ECDSA P-256 with SHA-256. */
    public static final String ALG = "ecdsa-p256-sha256";

    private static final SecureRandom RANDOM = new SecureRandom();

    private HttpSignature() {
    }

    /**
     * Returns the headers to add to the request: {@code Signature-Input}, {@code Signature} and,
     * when body is not empty, {@code Content-Digest}.
     *
     * @param uri     the absolute URL the request is sent to, mount prefix included
     * @param body    the exact body bytes sent, or an empty array
     * @param keyId   the credential ID
     * @param key     the device key; a {@code SHA256withECDSA} signer (AndroidKeyStore works)
     * @param created UNIX seconds now; the server allows 120 s of skew by default
     * @param nonce   fresh for every request: 16 to 128 characters of [A-Za-z0-9_-]
     */
    public static Map<String, String> sign(String method, URI uri, byte[] body, String keyId,
            PrivateKey key, long created, String nonce) throws GeneralSecurityException {
        Map<String, String> headers = new LinkedHashMap<>();
        String components = "\"@method\" \"@authority\" \"@path\" \"@query\"";
        String digest = null;
        if (body.length > 0) {
            digest = contentDigest(body);
            headers.put("Content-Digest", digest);
            components += " \"content-digest\"";
        }
        String params = "(" + components + ");created=" + created + ";keyid=\"" + keyId
                + "\";nonce=\"" + nonce + "\";alg=\"" + ALG + "\";tag=\"" + LABEL + "\"";
        String base = signatureBase(method, uri, digest, params);

        Signature signer = Signature.getInstance("SHA256withECDSA");
        signer.initSign(key);
        signer.update(base.getBytes(StandardCharsets.UTF_8));
        byte[] raw = derToRaw(signer.sign());

        headers.put("Signature-Input", LABEL + "=" + params);
        headers.put("Signature", LABEL + "=:" + Base64.getEncoder().encodeToString(raw) + ":");
        return headers;
    }

    /**
     * The signature base (RFC 9421 §2.5): one line per component, joined by LF, the
     * {@code "@signature-params"} line last and no LF after it.
     */
    static String signatureBase(String method, URI uri, String contentDigest, String params) {
        String query = uri.getRawQuery() == null ? "?" : "?" + uri.getRawQuery();
        StringBuilder b = new StringBuilder();
        b.append("\"@method\": ").append(method).append('\n');
        b.append("\"@authority\": ").append(authority(uri)).append('\n');
        b.append("\"@path\": ").append(uri.getRawPath()).append('\n');
        b.append("\"@query\": ").append(query).append('\n');
        if (contentDigest != null) {
            b.append("\"content-digest\": ").append(contentDigest).append('\n');
        }
        b.append("\"@signature-params\": ").append(params);
        return b.toString();
    }

    /** Host and port, lowercase, the scheme's default port dropped (RFC 9421 §2.2.3). */
    static String authority(URI uri) {
        String host = uri.getHost().toLowerCase(Locale.ROOT);
        int port = uri.getPort();
        boolean defaultPort = port == -1
                || (port == 443 && "https".equalsIgnoreCase(uri.getScheme()))
                || (port == 80 && "http".equalsIgnoreCase(uri.getScheme()));
        return defaultPort ? host : host + ":" + port;
    }

    /** The RFC 9530 {@code Content-Digest} of body: {@code sha-256=:<base64>:}. */
    static String contentDigest(byte[] body) throws GeneralSecurityException {
        byte[] h = MessageDigest.getInstance("SHA-256").digest(body);
        return "sha-256=:" + Base64.getEncoder().encodeToString(h) + ":";
    }

    /** A fresh nonce: 24 random bytes in base64url, 32 characters. */
    public static String newNonce() {
        byte[] b = new byte[24];
        RANDOM.nextBytes(b);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    /**
     * Converts the X9.62 DER {@code SEQUENCE {r, s}} that {@code SHA256withECDSA} gives into the
     * 64-byte {@code r‖s} that RFC 9421 wants for {@code ecdsa-p256-sha256}. (The desktop JDK also
     * has {@code SHA256withECDSAinP1363Format}; Android Keystore does not, so convert.)
     */
    static byte[] derToRaw(byte[] der) {
        int[] at = {0};
        if (der.length < 8 || der[at[0]++] != 0x30) {
            throw new IllegalArgumentException("not a DER ECDSA signature");
        }
        int seqLen = length(der, at);
        if (at[0] + seqLen != der.length) {
            throw new IllegalArgumentException("DER ECDSA signature: bad length");
        }
        byte[] raw = new byte[64];
        integer(der, at, raw, 0);
        integer(der, at, raw, 32);
        if (at[0] != der.length) {
            throw new IllegalArgumentException("DER ECDSA signature: trailing bytes");
        }
        return raw;
    }

    // integer copies the DER INTEGER at at[0] into out[off..off+32), left-padded.
    private static void integer(byte[] der, int[] at, byte[] out, int off) {
        if (der[at[0]++] != 0x02) {
            throw new IllegalArgumentException("DER ECDSA signature: expected an INTEGER");
        }
        int len = length(der, at);
        int start = at[0];
        at[0] += len;
        while (len > 0 && der[start] == 0) { // the sign byte of a positive integer
            start++;
            len--;
        }
        if (len > 32) {
            throw new IllegalArgumentException("DER ECDSA signature: integer over 32 bytes");
        }
        System.arraycopy(der, start, out, off + 32 - len, len);
    }

    // length reads a DER length (short form, or long form of one byte) at at[0].
    private static int length(byte[] der, int[] at) {
        int b = der[at[0]++] & 0xff;
        if (b < 0x80) {
            return b;
        }
        if (b == 0x81) {
            return der[at[0]++] & 0xff;
        }
        throw new IllegalArgumentException("DER ECDSA signature: bad length");
    }
}
