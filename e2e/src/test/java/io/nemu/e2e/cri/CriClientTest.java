package io.nemu.e2e.cri;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.e2e.support.CriClient;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CRI client without containerd: a socket nobody listens on gives an error naming the call. */
class CriClientTest {
    @Test
    void unreachableSocketNamesTheCall(@TempDir Path dir) {
        try (CriClient cri = CriClient.connect(dir.resolve("none.sock"), Duration.ofSeconds(5))) {
            CriClient.CriException e = assertThrows(CriClient.CriException.class, cri::version);
            assertTrue(e.getMessage().startsWith("Version failed: UNAVAILABLE"), e.getMessage());
            e = assertThrows(CriClient.CriException.class, () -> cri.stopPodSandbox("pod-x"));
            assertTrue(e.getMessage().startsWith("StopPodSandbox of pod pod-x failed: UNAVAILABLE"), e.getMessage());
        }
    }
}
