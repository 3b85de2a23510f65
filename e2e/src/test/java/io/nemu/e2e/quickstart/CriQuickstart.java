package io.nemu.e2e.quickstart;

import io.nemu.e2e.support.CriEnv;
import io.nemu.proto.cri.ContainerState;
import io.nemu.proto.cri.ContainerStatus;
import io.nemu.proto.cri.PodSandboxConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The README's main job through the path Kubernetes uses: a private containerd with its CRI plugin, handler
 * {@code nemu} and a CNI bridge of its own; RunPodSandbox boots the pod's VM, a busybox container prints the
 * guest kernel and the pod IP from inside it, its CRI log is printed, and everything is removed again.
 * Run by scripts/run.sh (crictl is not packaged in Debian: this is the project's own CRI client).
 */
public final class CriQuickstart {
    public static void main(String[] args) throws Exception {
        if (!CriEnv.guestImageBuilt()) {
            throw new IllegalStateException("no guest image in " + CriEnv.distribution().resolve("share/guest")
                    + ": run scripts/nemu image build");
        }
        Path work = Files.createTempDirectory("nemu-quickstart-");
        CriEnv env = null;
        try {
            step("starting a private containerd with its CRI plugin and a CNI bridge (" + work + ")");
            env = CriEnv.start(work, "nemu-quick0", "10.217.79.0/24");
            PodSandboxConfig pod = env.podConfig("quickstart");
            long t0 = System.nanoTime();
            step("RunPodSandbox with handler nemu (boots the pod's VM; under TCG this takes a while)");
            String podId = env.cri.runPodSandbox(pod, CriEnv.NEMU);
            String ip = env.cri.podSandboxStatus(podId, false).getStatus().getNetwork().getIp();
            long booted = System.nanoTime();
            step("pod " + podId.substring(0, 12) + " ready, pod IP " + ip + "; a busybox container in it");
            String cid = env.cri.createContainer(podId, CriEnv.container("hello",
                    "echo \"hello from a container in its own VM: guest kernel $(uname -r),"
                            + " pod IP $(ip -4 -o addr show eth0 | awk '{print $4}')\"").build(), pod);
            env.cri.startContainer(cid);
            ContainerStatus st = waitExited(env, cid);
            long done = System.nanoTime();
            List<String> log = Files.readAllLines(Path.of(pod.getLogDirectory(), "hello.log"));
            for (String line : log) {
                System.out.println(line.replaceFirst("^\\S+ stdout F ", ""));
            }
            if (st.getExitCode() != 0 || log.isEmpty()) {
                throw new IllegalStateException("the container exited with " + st.getExitCode() + ", log " + log);
            }
            System.out.printf("host kernel %s; pod ready in %.1f s, container done %.1f s later%n",
                    System.getProperty("os.version"), (booted - t0) / 1e9, (done - booted) / 1e9);
            step("removing the pod");
            env.cri.stopPodSandbox(podId);
            env.cri.removePodSandbox(podId);
        } finally {
            CriEnv.closeAndDelete(env, work);
        }
    }

    private static ContainerStatus waitExited(CriEnv env, String cid) {
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        ContainerStatus st = env.cri.containerStatus(cid);
        while (st.getState() != ContainerState.CONTAINER_EXITED) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("container still " + st.getState() + " after 120 s");
            }
            CriEnv.sleep(100);
            st = env.cri.containerStatus(cid);
        }
        return st;
    }

    private static void step(String what) {
        System.out.println("==> " + what);
    }
}
