package com.github.deviceauth.client;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A command-line device: {@code java -cp classes com.github.deviceauth.client.Main --state FILE
 * COMMAND ARGS…}. It prints one JSON object per command, {@code {"ok":true,"result":…}} or
 * {@code {"ok":false,"error":…,…}}, and exits 1 on failure. The state file holds the base URL,
 * the credential ID and the key (a software key, in the clear: a phone keeps it in its keystore).
 */
public final class Main {
    private static final String USAGE = String.join("\n",
            "usage: Main --state FILE COMMAND [ARGS]",
            "  register BASE_URL TOKEN NAME PLATFORM   make a key, register it, write FILE",
            "  pending                                 list the pending challenges",
            "  fetch CHALLENGE_ID                      fetch one challenge",
            "  approve CHALLENGE_ID [CODE]             fetch, then approve (CODE when one is asked)",
            "  deny CHALLENGE_ID [REASON]              fetch, then deny (REASON e.g. not_me)",
            "  sign METHOD URL [BODY]                  print the RFC 9421 headers for a request,",
            "                                          without sending it (to compare with a server)",
            "  script                                  run steps from stdin, one JSON array of",
            "                                          arguments per line, e.g. [\"fetch\",\"ch_…\"];",
            "                                          print one JSON line per step");

    private Main() {
    }

    public static void main(String[] args) throws IOException {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        if (args.length < 3 || !"--state".equals(args[0])) {
            System.err.println(USAGE);
            System.exit(2);
        }
        Path state = Path.of(args[1]);
        List<String> command = List.of(args).subList(2, args.length);
        if (!"script".equals(command.get(0))) {
            Map<String, Object> answer = run(state, command);
            out.println(Json.write(answer));
            System.exit(Boolean.TRUE.equals(answer.get("ok")) ? 0 : 1);
        }
        // One JVM for many steps: starting a JVM per step is slow.
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            if (line.isBlank()) {
                continue;
            }
            Map<String, Object> answer;
            try {
                List<String> step = new ArrayList<>();
                for (Object a : (List<?>) Json.parse(line)) {
                    step.add((String) a);
                }
                answer = run(state, step);
            } catch (RuntimeException badLine) {
                answer = failure("client_error", "step is not a JSON array of strings: " + badLine.getMessage());
            }
            out.println(Json.write(answer));
        }
    }

    /** Runs one command and returns what to print. */
    static Map<String, Object> run(Path state, List<String> c) {
        try {
            switch (c.get(0) + "/" + c.size()) {
                case "register/5": {
                    KeyPair key = DeviceClient.newKey();
                    DeviceClient client = new DeviceClient(c.get(1), key, null);
                    Map<String, Object> cred = client.register(c.get(2), c.get(3), c.get(4));
                    save(state, c.get(1), client.credentialId(), key);
                    return success(cred);
                }
                case "pending/1": {
                    List<Object> list = new ArrayList<>();
                    for (DeviceClient.Challenge ch : load(state).pending()) {
                        list.add(show(ch));
                    }
                    Map<String, Object> result = new LinkedHashMap<>();
                    result.put("challenges", list);
                    return success(result);
                }
                case "fetch/2":
                    return success(show(load(state).challenge(c.get(1))));
                case "approve/2":
                case "approve/3": {
                    DeviceClient client = load(state);
                    DeviceClient.Challenge ch = client.challenge(c.get(1));
                    String code = c.size() == 3 ? c.get(2) : null;
                    if (ch.verificationCodeRequired && code == null) {
                        // A phone app asks the user here; the server would count a missing code as wrong.
                        return failure("verification_code_required", "type the code the other screen shows");
                    }
                    return success(client.approve(ch, code));
                }
                case "deny/2":
                case "deny/3": {
                    DeviceClient client = load(state);
                    DeviceClient.Challenge ch = client.challenge(c.get(1));
                    return success(client.deny(ch, c.size() == 3 ? c.get(2) : null));
                }
                case "sign/3":
                case "sign/4": {
                    byte[] body = c.size() == 4 ? c.get(3).getBytes(StandardCharsets.UTF_8) : new byte[0];
                    Map<String, String> headers = load(state).signatureHeaders(c.get(1), URI.create(c.get(2)), body);
                    return success(new LinkedHashMap<String, Object>(headers));
                }
                default:
                    return failure("usage", USAGE);
            }
        } catch (DeviceClient.ApiException e) {
            Map<String, Object> m = failure(e.code, e.getMessage());
            m.put("status", e.status);
            if (e.state != null) {
                m.put("state", e.state);
            }
            return m;
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            return failure("client_error", e.toString());
        }
    }

    /** The challenge as the server sent it, plus the details digest this client signs. */
    private static Map<String, Object> show(DeviceClient.Challenge ch) throws GeneralSecurityException {
        Map<String, Object> m = new LinkedHashMap<>(ch.json);
        m.put("detailsDigest", HexFormat.of().formatHex(ch.detailsDigest()));
        return m;
    }

    private static Map<String, Object> success(Object result) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("ok", true);
        m.put("result", result);
        return m;
    }

    private static Map<String, Object> failure(String error, String message) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("ok", false);
        m.put("error", error);
        m.put("message", message);
        return m;
    }

    // ---- The state file ----

    private static void save(Path file, String baseUrl, String credentialId, KeyPair key) throws IOException {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("baseUrl", baseUrl);
        m.put("credentialId", credentialId);
        m.put("publicKey", DeviceClient.b64url(key.getPublic().getEncoded()));   // SPKI DER
        m.put("privateKey", DeviceClient.b64url(key.getPrivate().getEncoded())); // PKCS#8 DER
        // Made owner-only before the key is written, then moved into place whole.
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.deleteIfExists(tmp);
        try {
            Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } catch (UnsupportedOperationException notPosix) {
            Files.createFile(tmp); // Windows: the folder's permissions
        }
        Files.writeString(tmp, Json.write(m) + "\n", StandardCharsets.UTF_8);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static DeviceClient load(Path file) throws IOException, GeneralSecurityException {
        Map<String, Object> m = DeviceClient.asMap(Json.parse(Files.readString(file, StandardCharsets.UTF_8)));
        Base64.Decoder d = Base64.getUrlDecoder();
        KeyFactory kf = KeyFactory.getInstance("EC");
        KeyPair key = new KeyPair(
                kf.generatePublic(new X509EncodedKeySpec(d.decode((String) m.get("publicKey")))),
                kf.generatePrivate(new PKCS8EncodedKeySpec(d.decode((String) m.get("privateKey")))));
        return new DeviceClient((String) m.get("baseUrl"), key, (String) m.get("credentialId"));
    }
}
