package io.netpass.agent.api;

import jakarta.validation.Valid;

import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;

import io.netpass.agent.discovery.DiscoveredVm;
import io.netpass.agent.discovery.VmDiscovery;
import io.netpass.agent.discovery.VmLocator;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/** The controller's endpoint to find a VM's QEMU process and tap NICs on this host. */
@RestController
public class DiscoveryController {

    private final VmDiscovery discovery;

    public DiscoveryController(VmDiscovery discovery) {
        this.discovery = discovery;
    }

    /** Reads /proc (a scan of every process for a domain name): off the event loop. */
    @PostMapping("/v1/discovery")
    public Mono<DiscoveredVm> discover(@Valid @RequestBody DiscoveryRequest request) {
        DiscoveryRequest.KubevirtVmi vmi = request.kubevirtVmi();
        VmLocator vm = new VmLocator(request.qemuPid(), request.libvirtDomain(),
                vmi == null ? null : new VmLocator.KubevirtVmi(vmi.namespace(), vmi.name()));
        return Mono.fromCallable(() -> discovery.discover(vm)).subscribeOn(Schedulers.boundedElastic());
    }
}
