package io.nemu.shim.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/** An OCI bundle: its folder and the parsed {@code config.json}. */
public record Bundle(Path dir, JsonNode spec) {
    public static final String CONTAINER_TYPE = "io.kubernetes.cri.container-type";
    public static final String SANDBOX_ID = "io.kubernetes.cri.sandbox-id";
    private static final ObjectMapper JSON = new ObjectMapper();

    public static Bundle read(Path dir) throws IOException {
        Path file = dir.resolve("config.json");
        try {
            JsonNode spec = JSON.readTree(file.toFile());
            if (spec == null || !spec.isObject()) {
                throw new IOException(file + " is not a JSON object");
            }
            return new Bundle(dir, spec);
        } catch (NoSuchFileException | java.io.FileNotFoundException e) {
            throw new IOException("bundle " + dir + " has no config.json");
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IOException(file + " is not valid JSON: " + e.getOriginalMessage());
        }
    }

    public static ObjectMapper json() {
        return JSON;
    }

    public Map<String, String> annotations() {
        Map<String, String> m = new LinkedHashMap<>();
        JsonNode a = spec.path("annotations");
        a.fields().forEachRemaining(e -> m.put(e.getKey(), e.getValue().asText()));
        return m;
    }

    /** The pod sandbox this container joins: CRI's sandbox-id for a non-sandbox container, else empty. */
    public Optional<String> joinsSandbox() {
        Map<String, String> a = annotations();
        String type = a.get(CONTAINER_TYPE);
        String sid = a.get(SANDBOX_ID);
        if ("container".equals(type) && sid != null && !sid.isEmpty()) {
            return Optional.of(sid);
        }
        return Optional.empty();
    }

    /** The sandbox id of this bundle's task: its pod's, or its own id when it is a sandbox by itself. */
    public String sandboxIdFor(String id) {
        return joinsSandbox().orElse(id);
    }

    public boolean exists() {
        return Files.isDirectory(dir);
    }
}
