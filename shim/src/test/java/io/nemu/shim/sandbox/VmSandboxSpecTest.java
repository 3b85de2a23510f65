package io.nemu.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grpc.Status;
import io.nemu.shim.errdefs.TaskException;
import io.nemu.shim.oci.Bundle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What the sandbox makes of a container's, an exec's and an update's OCI JSON before it reaches the agent. */
class VmSandboxSpecTest {
    private static com.fasterxml.jackson.databind.JsonNode tree(String s) {
        try {
            return Bundle.json().readTree(s);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static byte[] json(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static TaskException invalid(Runnable call) {
        TaskException e = assertThrows(TaskException.class, call::run);
        assertEquals(Status.Code.INVALID_ARGUMENT, e.code(), e.getMessage());
        return e;
    }

    @Test
    void execAndUpdateSpecsAreMapped() {
        var p = VmSandbox.execSpec("c1", "e1", json("{\"args\":[\"id\",\"-u\"],\"user\":{\"uid\":1000,\"gid\":1000},\"cwd\":\"/\"}"));
        assertEquals(List.of("id", "-u"), p.getArgsList());
        assertEquals(1000, p.getUser().getUID());
        var r = VmSandbox.resources("c1", tree("{\"memory\":{\"limit\":268435456},\"cpu\":{\"quota\":50000,\"period\":100000}}"));
        assertEquals(268435456, r.getMemory().getLimit());
        assertEquals(50000, r.getCPU().getQuota());
    }

    @Test
    void wrongTypesFailTheCallNamingTheCallAndThePath() {
        assertEquals("exec e1 of c1: process.user.uid: expected a number, got string \"1000\"",
                invalid(() -> VmSandbox.execSpec("c1", "e1", json("{\"args\":[\"id\"],\"user\":{\"uid\":\"1000\"}}")))
                        .getMessage());
        assertEquals("exec e1 of c1: process.args: expected an array, got string \"id -u\"",
                invalid(() -> VmSandbox.execSpec("c1", "e1", json("{\"args\":\"id -u\"}"))).getMessage());
        assertEquals("update of c1: linux.resources.memory.limit: expected a number, got string \"256Mi\"",
                invalid(() -> VmSandbox.resources("c1", tree("{\"memory\":{\"limit\":\"256Mi\"}}"))).getMessage());
        invalid(() -> VmSandbox.execSpec("c1", "e1", json("{not json")));
    }

    @Test
    void aContainersSpecIsCheckedWhole() throws Exception {
        Bundle b = new Bundle(Path.of("/b"), Bundle.json().readTree(
                "{\"process\":{\"args\":[\"sh\"],\"env\":{\"PATH\":\"/bin\"}},\"root\":{\"path\":\"rootfs\"}}"));
        assertEquals("config.json of c2: process.env: expected an array, got an object",
                invalid(() -> VmSandbox.containerSpec("c2", b)).getMessage());
    }
}
