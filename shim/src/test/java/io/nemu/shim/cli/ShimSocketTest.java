package io.nemu.shim.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ShimSocketTest {
    @TempDir
    Path bundle;

    @Test
    void theAddressFileHoldsWhatStartPrintsAndIsReplacedWhole() throws Exception {
        Path socket = ShimSocket.path("/run/containerd/containerd.sock", "default", "t1");
        Files.writeString(bundle.resolve("address"), "unix:///run/containerd/s/an-older-and-much-longer-address");
        ShimSocket.writeAddressFile(bundle, socket);
        assertEquals(ShimSocket.address(socket), Files.readString(bundle.resolve("address")));
        assertFalse(Files.exists(bundle.resolve("address.tmp")));
    }
}
