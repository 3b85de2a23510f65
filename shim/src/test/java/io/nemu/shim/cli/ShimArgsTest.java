package io.nemu.shim.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import io.nemu.proto.containerd.runtimeoptions.v1.Options;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class ShimArgsTest {
    @Test
    void containerdsCommandLine() throws Exception {
        ShimArgs a = ShimArgs.parse(new String[] {"-namespace", "k8s.io", "-address", "/run/containerd/containerd.sock",
                "-publish-binary", "/usr/bin/containerd", "-id", "abc", "-bundle=/b", "-debug", "start"});
        assertEquals("k8s.io", a.namespace());
        assertEquals("/run/containerd/containerd.sock", a.address());
        assertEquals("/usr/bin/containerd", a.publishBinary());
        assertEquals("abc", a.id());
        assertEquals(Path.of("/b"), a.bundle());
        assertTrue(a.debug());
        assertEquals("start", a.command());
        a.requireTaskFlags();
        assertTrue(ShimArgs.parse(new String[] {"-v"}).version());
        assertTrue(ShimArgs.parse(new String[] {"--info"}).info());
        assertFalse(ShimArgs.parse(new String[] {"-debug=false", "delete"}).debug());
    }

    @Test
    void badCommandLinesNameTheFlag() {
        assertTrue(assertThrows(ShimArgs.UsageException.class, () -> ShimArgs.parse(new String[] {"-bogus", "x"}))
                .getMessage().contains("-bogus"));
        assertTrue(assertThrows(ShimArgs.UsageException.class, () -> ShimArgs.parse(new String[] {"-id"}))
                .getMessage().contains("-id needs a value"));
        assertTrue(assertThrows(ShimArgs.UsageException.class,
                () -> ShimArgs.parse(new String[] {"-namespace", "n", "-address", "a", "start"}).requireTaskFlags())
                .getMessage().contains("-id"));
        assertThrows(ShimArgs.UsageException.class,
                () -> ShimArgs.parse(new String[] {"-namespace", "n", "-address", "a", "-id", "../x", "start"}).requireTaskFlags());
    }

    @Test
    void socketPathFollowsContainerdsConvention() {
        // printf '%s' /run/containerd/containerd.sock/default/t1 | sha256sum
        assertEquals(Path.of("/run/containerd/s/df6a0c5cd2e9a1a16d9a3f2447365d9fc6021bc1d3d9a4caa2f5b2c4f773758f"),
                ShimSocket.path("/run/containerd/containerd.sock", "default", "t1"));
    }

    @Test
    void runtimeInfoCarriesNameVersionAndTheOptions() throws Exception {
        Any opts = Any.newBuilder().setTypeUrl("runtimeoptions.v1.Options")
                .setValue(Options.newBuilder().setConfigPath("/c.toml").build().toByteString()).build();
        // Decoded with a descriptor-free reader: field 1 name, 2 version message, 3 the options Any.
        com.google.protobuf.UnknownFieldSet f = com.google.protobuf.UnknownFieldSet.parseFrom(
                ShimMain.runtimeInfo(opts.toByteArray()));
        assertEquals("io.containerd.nemu.v2", f.getField(1).getLengthDelimitedList().get(0).toStringUtf8());
        com.google.protobuf.UnknownFieldSet v = com.google.protobuf.UnknownFieldSet.parseFrom(
                f.getField(2).getLengthDelimitedList().get(0));
        assertEquals(ShimMain.VERSION, v.getField(1).getLengthDelimitedList().get(0).toStringUtf8());
        assertEquals(opts, Any.parseFrom(f.getField(3).getLengthDelimitedList().get(0)));
        assertFalse(com.google.protobuf.UnknownFieldSet.parseFrom(ShimMain.runtimeInfo(new byte[0])).hasField(3));
    }
}
