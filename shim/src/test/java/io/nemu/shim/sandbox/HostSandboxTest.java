package io.nemu.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HostSandboxTest {
    @TempDir
    Path root;

    private SandboxPaths sandbox(String id) throws Exception {
        SandboxPaths p = new SandboxPaths(root, id);
        Files.createDirectories(p.state());
        return p;
    }

    private static SandboxRecord record(String id, boolean console) {
        return SandboxRecord.starting(id, Map.of(SandboxRecord.POD_NAME, "web", SandboxRecord.POD_NAMESPACE, "default"),
                "virt", new PodSizing(2, 768, 2, 768, "test"), Path.of("/etc/nemu/configuration.toml"), console);
    }

    @Test
    void statusFollowsTheRecordedProcesses() throws Exception {
        long me = ProcessHandle.current().pid();
        SandboxPaths live = sandbox("aaa111");
        PidFile.of(me).write(live.pidFile(SandboxPaths.DAEMON));
        assertEquals(HostSandbox.Status.STARTING, HostSandbox.of(live).status(), "no record yet");
        record("aaa111", true).write(live.state());
        assertEquals(HostSandbox.Status.VM_STOPPED, HostSandbox.of(live).status(), "no QEMU recorded");
        PidFile.of(me).write(live.pidFile("qemu"));
        HostSandbox running = HostSandbox.of(live);
        assertEquals(HostSandbox.Status.RUNNING, running.status());
        assertEquals("web", running.record().orElseThrow().pod());
        assertEquals(768, running.record().orElseThrow().memoryMib());

        // A daemon that died: its pid file names a process that no longer runs (same pid, other start time).
        SandboxPaths stale = sandbox("bbb222");
        new PidFile(me, PidFile.of(me).startTicks() + 1).write(stale.pidFile(SandboxPaths.DAEMON));
        record("bbb222", false).write(stale.state());
        assertEquals(HostSandbox.Status.STALE, HostSandbox.of(stale).status());
        assertTrue(DebugConsoleClient.refusal(HostSandbox.of(stale)).contains("is stale"));

        SandboxPaths broken = sandbox("ccc333");
        Files.writeString(broken.state().resolve(SandboxRecord.FILE), "{not json");
        HostSandbox b = HostSandbox.of(broken);
        assertTrue(b.problem().contains("is not a sandbox record"), b.problem());

        assertEquals(List.of("aaa111", "bbb222", "ccc333"), HostSandbox.list(root).stream().map(HostSandbox::id).toList());
    }

    @Test
    void aDisabledConsoleIsRefusedNamingTheKey() throws Exception {
        long me = ProcessHandle.current().pid();
        SandboxPaths p = sandbox("ddd444");
        PidFile.of(me).write(p.pidFile(SandboxPaths.DAEMON));
        PidFile.of(me).write(p.pidFile("qemu"));
        record("ddd444", false).write(p.state());
        String why = DebugConsoleClient.refusal(HostSandbox.of(p));
        assertTrue(why.contains("debug_console_enabled = true under [agent.kata] in /etc/nemu/configuration.toml"), why);
        record("ddd444", true).write(p.state());
        assertTrue(DebugConsoleClient.refusal(HostSandbox.of(p)).contains("no hybrid vsock socket"));
        Files.createDirectories(p.vmRun());
        Files.createFile(p.vmRun().resolve("vsock"));
        assertNull(DebugConsoleClient.refusal(HostSandbox.of(p)));
    }

    @Test
    void idsAndUniquePrefixesFindASandbox() throws Exception {
        sandbox("abc1");
        sandbox("abc2");
        sandbox("xyz");
        assertEquals("xyz", HostSandbox.find(root, "x").id());
        assertEquals("abc1", HostSandbox.find(root, "abc1").id());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> HostSandbox.find(root, "abc")).getMessage()
                .contains("names 2 sandboxes"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> HostSandbox.find(root, "nope")).getMessage()
                .contains("no sandbox 'nope' on this host"));
    }
}
