# Builds native-host/build/ngx_http_ezauth_module.so against Debian's nginx-dev
# (/usr/share/nginx/src), the way Debian builds its libnginx-mod-* packages:
# nginx's ./configure with the flags of the packaged binary (conf_flags, plus
# --with-compat) and --add-dynamic-module, then "make modules".  The stock
# /usr/sbin/nginx loads the result with load_module.
#
# Called from native-host/Makefile as "$(MAKE) -f nginx/build.mk"; it can also
# be run on its own from native-host/.  The source tree is read-only: configure
# runs in native-host/build/nginx, a directory of symbolic links to it, so
# nothing is written under /usr/share/nginx/src.

NGINX_SRC ?= /usr/share/nginx/src

EZAUTH_NGX_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
EZAUTH_ROOT := $(abspath $(EZAUTH_NGX_DIR)/../..)
BUILD ?= $(EZAUTH_ROOT)/native-host/build
EZAUTH_NGX_TREE := $(BUILD)/nginx

CARGO ?= cargo

# native-host/Makefile passes LIB_DIR (and has run cargo already); on its own,
# this file builds the library with cargo, and links libezauth.so.N (the
# library's SONAME, which the module records) to it, as native-host/Makefile.
ifdef LIB_DIR
EZAUTH_LIB_DIR := $(abspath $(LIB_DIR))
else
EZAUTH_LIB_DIR := $(EZAUTH_ROOT)/target/release
endif
EZAUTH_LIB := $(EZAUTH_LIB_DIR)/libezauth.so

# Debian's hardening flags (dpkg-buildflags), as the packaged modules use.
NGX_CC_OPT ?= -g -O2 -fstack-protector-strong -Wformat -Werror=format-security \
	-fPIC -Wdate-time -D_FORTIFY_SOURCE=2
NGX_LD_OPT ?= -Wl,-z,relro -Wl,-z,now -fPIC

.PHONY: nginx-module nginx-module-clean FORCE

nginx-module: $(BUILD)/ngx_http_ezauth_module.so

ifdef LIB_DIR
$(EZAUTH_LIB):
	@test -f $@ || { echo "no libezauth.so in $(EZAUTH_LIB_DIR)" >&2; exit 1; }
else
$(EZAUTH_LIB): FORCE
	cd $(EZAUTH_ROOT) && $(CARGO) build --release --lib
	@so=$$(readelf -d $@ | sed -n 's/.*(SONAME).*\[\(.*\)\]$$/\1/p'); \
	    test -n "$$so" || { echo "$@ has no SONAME" >&2; exit 1; }; \
	    test "$$(readlink $(EZAUTH_LIB_DIR)/$$so)" = libezauth.so || \
	    ln -sfn libezauth.so $(EZAUTH_LIB_DIR)/$$so
endif

# configure runs again when the library directory (baked into the rpath) changes
$(EZAUTH_NGX_TREE)/libdir: FORCE
	@mkdir -p $(EZAUTH_NGX_TREE)
	@echo '$(EZAUTH_LIB_DIR)' | cmp -s - $@ || echo '$(EZAUTH_LIB_DIR)' > $@

$(EZAUTH_NGX_TREE)/objs/Makefile: $(EZAUTH_NGX_DIR)/config $(EZAUTH_NGX_DIR)/build.mk \
		$(EZAUTH_NGX_TREE)/libdir
	@test -x $(NGINX_SRC)/configure || \
		{ echo "$(NGINX_SRC)/configure not found: install nginx-dev" >&2; exit 1; }
	find $(EZAUTH_NGX_TREE) -mindepth 1 -maxdepth 1 ! -name libdir \
		-exec rm -rf {} +
	for f in $(NGINX_SRC)/*; do ln -s $$f $(EZAUTH_NGX_TREE)/; done
	cd $(EZAUTH_NGX_TREE) && EZAUTH_LIB_DIR=$(EZAUTH_LIB_DIR) bash -c '. ./conf_flags && \
		./configure "$${NGX_CONF_FLAGS[@]}" \
			--with-cc-opt="$(NGX_CC_OPT)" --with-ld-opt="$(NGX_LD_OPT)" \
			--add-dynamic-module=$(EZAUTH_NGX_DIR)' > configure.log 2>&1 || \
		{ cat $(EZAUTH_NGX_TREE)/configure.log >&2; exit 1; }

$(BUILD)/ngx_http_ezauth_module.so: $(EZAUTH_NGX_TREE)/objs/Makefile \
		$(EZAUTH_NGX_DIR)/ngx_http_ezauth_module.c \
		$(EZAUTH_ROOT)/include/ezauth.h $(EZAUTH_LIB)
	$(MAKE) -C $(EZAUTH_NGX_TREE) -f objs/Makefile modules
	cp $(EZAUTH_NGX_TREE)/objs/ngx_http_ezauth_module.so $@.tmp
	mv $@.tmp $@

nginx-module-clean:
	rm -rf $(EZAUTH_NGX_TREE) $(BUILD)/ngx_http_ezauth_module.so

FORCE:
