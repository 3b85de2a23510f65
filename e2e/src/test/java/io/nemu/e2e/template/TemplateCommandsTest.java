package io.nemu.e2e.template;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.nemu.e2e.support.CniBridge;
import io.nemu.e2e.support.CriEnv;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.FileTrees;
import io.nemu.e2e.support.Leftovers;
import io.nemu.e2e.support.NemuCommand;
import io.nemu.proto.cri.PodSandboxConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code nemu template build | list | remove} of the built distribution against a private containerd: the template
 * built ahead is the one a CRI pod with templating on clones (it builds none itself), {@code list} says it is
 * current, then stale once kernel_params changed, naming that setting; {@code remove} empties the store while the
 * clone runs, and the clone goes on running (its private mapping of the removed RAM file). One pod, one template.
 */
@Tag("system")
class TemplateCommandsTest {
    private static final Duration BUILD = Duration.ofSeconds(300);
    private static final Duration QUICK = Duration.ofSeconds(60);
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterEach();

    private final Distribution dist = Distribution.locate();

    private NemuCommand.Result nemu(Duration timeout, String... args) throws Exception {
        NemuCommand.Result r = NemuCommand.run(dist, timeout, args);
        System.out.println("$ nemu " + String.join(" ", args) + "  (exit " + r.exitCode() + ")\n" + r.stdout() + r.stderr());
        return r;
    }

    @Test
    void aTemplateBuiltAheadIsTheOneAPodClonesAndListAndRemoveSeeIt() throws Exception {
        assumeTrue(CriEnv.guestImageBuilt(), "no guest image in packaging/target/nemu/share/guest (nemu image build)");
        Path work = LEFTOVERS.gone(LEFTOVERS.dir(Files.createTempDirectory("nemu-tplcmd-")));
        // On a tmpfs, as in production.
        Path templates = LEFTOVERS.gone(LEFTOVERS.dir(Path.of("/dev/shm/nemu-e2e-tplcmd-" + ProcessHandle.current().pid())));
        CriEnv env = null;
        try {
            env = CriEnv.start(work, "nemu-tplc", "10.217.85.0/24");
            LEFTOVERS.containerd(env.containerd);
            Files.writeString(env.configPath, CriEnv.withTemplates(Files.readString(env.configPath), templates));
            String config = env.configPath.toString();

            NemuCommand.Result built = nemu(BUILD, "template", "build", "--config", config).requireOk();
            Matcher m = Pattern.compile("building template (\\S+) \\(1 NIC\\)").matcher(built.stdout());
            assertTrue(m.find(), built.stdout());
            String name = m.group(1);
            assertTrue(built.stdout().contains("built in "), built.stdout());
            assertTrue(Files.isRegularFile(templates.resolve(name).resolve("memory")), "its RAM file");
            assertFalse(CniBridge.output(Duration.ofSeconds(10), "ip", "netns", "list").contains("nemu-tpl-"),
                    "the build's throwaway namespace is gone");
            assertTrue(nemu(QUICK, "template", "build", "--config", config).requireOk().stdout()
                    .contains("template " + name + " is current: nothing to build"));

            // A CRI pod (one NIC, the default size) clones it: no build of its own.
            PodSandboxConfig pod = env.podConfig("tplcmd");
            long t0 = System.nanoTime();
            String podId = env.cri.runPodSandbox(pod, CriEnv.NEMU);
            String cid = env.cri.createContainer(podId, CriEnv.container("c", "exec sleep 100000").build(), pod);
            env.cri.startContainer(cid);
            System.out.printf("cloned pod up: %d ms%n", (System.nanoTime() - t0) / 1_000_000);
            LEFTOVERS.sandbox(podId);
            String log = Files.readString(env.containerd.logFile());
            assertTrue(log.contains("sandbox " + podId + ": cloning template " + templates.resolve(name)),
                    env.containerd.logTail(60));
            assertFalse(log.contains("building template"), env.containerd.logTail(60));
            assertFalse(log.contains("sandbox " + podId + " boots normally"), env.containerd.logTail(60));

            String listed = nemu(QUICK, "template", "list", "--config", config).requireOk().stdout();
            assertTrue(listed.lines().anyMatch(l -> l.startsWith(name) && l.matches(".*\\s1\\s+current\\s.*")), listed);

            env.setConfig("kernel_params", "\"quiet\"");
            listed = nemu(QUICK, "template", "list", "--config", config).requireOk().stdout();
            assertTrue(listed.lines().anyMatch(l -> l.startsWith(name) && l.contains(" stale ")
                    && l.endsWith("(changed: kernelArgs)")), listed);

            NemuCommand.Result removed = nemu(QUICK, "template", "remove", "--all", "--config", config).requireOk();
            assertTrue(removed.stdout().contains("removed template " + name), removed.stdout());
            try (Stream<Path> s = Files.list(templates)) {
                assertEquals(List.of(), s.toList(), "the store is empty");
            }
            assertTrue(nemu(QUICK, "template", "list", "--config", config).requireOk().stdout()
                    .contains("store " + templates + ": 0 templates"));
            // The clone runs on: its guest kernel and agent are pages of its private mapping of the removed file.
            String out = env.cri.execSync(cid, QUICK, "sh", "-c", "echo alive")
                    .requireOk("exec after remove").stdout();
            assertEquals("alive\n", out);

            env.cri.stopPodSandbox(podId);
            env.cri.removePodSandbox(podId);
        } finally {
            try {
                CriEnv.closeAndDelete(env, work);
            } finally {
                FileTrees.delete(templates);
            }
        }
        assertFalse(CniBridge.output(Duration.ofSeconds(10), "ip", "netns", "list").contains("nemu-tpl-"));
    }
}
