package io.nemu.shim.daemon;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.nemu.proto.shim.HostVolumeStatsRequest;
import io.nemu.proto.shim.HostVolumeStatsResponse;
import io.nemu.proto.shim.VolumesGrpc;
import io.nemu.shim.errdefs.TaskException;
import io.nemu.shim.task.TaskService;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code nemu.shim.v1.Volumes} on the daemon's ttrpc socket (the operator's {@code nemu direct-volume stats}):
 * asks each pod whether one of its containers mounts the host path, and that pod's guest agent for its stats.
 * The socket is the one containerd uses (root's alone, 0600, gone with the daemon), so this needs no socket,
 * permission or clean-up of its own; ttrpc routes by service name, so containerd's calls never meet it.
 */
final class VolumeService extends VolumesGrpc.VolumesImplBase {
    private static final Logger log = LoggerFactory.getLogger(VolumeService.class);

    private final PodRouter pods;

    VolumeService(PodRouter pods) {
        this.pods = pods;
    }

    @Override
    public void stats(HostVolumeStatsRequest req, StreamObserver<HostVolumeStatsResponse> out) {
        String path = req.getVolumePath();
        if (!path.startsWith("/")) {
            out.onError(Status.INVALID_ARGUMENT.withDescription("volume path '" + path + "' is not an absolute path")
                    .asRuntimeException());
            return;
        }
        for (Map.Entry<String, TaskService> pod : pods.held().entrySet()) {
            AtomicReference<Optional<HostVolumeStatsResponse>> r = new AtomicReference<>(Optional.empty());
            try {
                PodLog.in(pod.getKey(), () -> r.set(pod.getValue().volumeStats(path)));
            } catch (TaskException e) {
                out.onError(e.toStatus());
                return;
            } catch (RuntimeException e) {
                log.error("sandbox {}: volume stats of {}", pod.getKey(), path, e);
                out.onError(Status.INTERNAL.withDescription("sandbox " + pod.getKey() + ": volume " + path + ": "
                        + e.getMessage()).asRuntimeException());
                return;
            }
            if (r.get().isPresent()) {
                out.onNext(r.get().get());
                out.onCompleted();
                return;
            }
        }
        out.onError(Status.NOT_FOUND.withDescription("no sandbox of this shim daemon holds volume " + path)
                .asRuntimeException());
    }
}
