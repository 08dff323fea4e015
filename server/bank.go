package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/fingerprint"
)

// bankService implements pb.BankServiceServer.
type bankService struct {
	pb.UnimplementedBankServiceServer
	s *Server
}

func (b *bankService) CreateBank(ctx context.Context, req *pb.CreateBankRequest) (*pb.CreateBankResponse, error) {
	s := b.s
	var vs violations
	if req.GetBank() == nil {
		vs.add("CreateBankRequest.bank", "missing, want the bank to create")
	} else {
		checkBankName(&vs, "CreateBankRequest.bank.name", req.GetBank().GetName())
		vs.addErr("CreateBankRequest.bank.description",
			mediamatch.ValidateDescription("CreateBankRequest.bank.description", req.GetBank().GetDescription()))
	}
	if err := vs.err(); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if err := allowBank(ctx, "CreateBankRequest.bank.name", req.GetBank().GetName()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	bank, err := s.banks.CreateBank(ctx, mediamatch.Bank{Name: req.GetBank().GetName(), Description: req.GetBank().GetDescription()})
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &pb.CreateBankResponse{Bank: pb.BankToProto(bank)}, nil
}

func (b *bankService) GetBank(ctx context.Context, req *pb.GetBankRequest) (*pb.GetBankResponse, error) {
	s := b.s
	var vs violations
	checkBankName(&vs, "GetBankRequest.name", req.GetName())
	if err := vs.err(); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if err := allowBank(ctx, "GetBankRequest.name", req.GetName()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	bank, err := s.banks.GetBank(ctx, req.GetName())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &pb.GetBankResponse{Bank: pb.BankToProto(bank)}, nil
}

func (b *bankService) ListBanks(ctx context.Context, req *pb.ListBanksRequest) (*pb.ListBanksResponse, error) {
	s := b.s
	var vs violations
	checkPageSize(&vs, "ListBanksRequest.page_size", req.GetPageSize())
	if err := vs.err(); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	// A caller limited to banks sees only those, filtered before paging
	// (no empty pages), and opaque page tokens that name none of the
	// others.
	banks, next, err := s.banks.ListBanksWithin(ctx, int(req.GetPageSize()), req.GetPageToken(), callerBanks(ctx))
	if err != nil {
		return nil, s.toStatus(ctx, pageTokenError("ListBanksRequest.page_token", err))
	}
	resp := &pb.ListBanksResponse{NextPageToken: next, Banks: make([]*pb.Bank, 0, len(banks))}
	for _, bank := range banks {
		resp.Banks = append(resp.Banks, pb.BankToProto(bank))
	}
	return resp, nil
}

func (b *bankService) DeleteBank(ctx context.Context, req *pb.DeleteBankRequest) (*pb.DeleteBankResponse, error) {
	s := b.s
	var vs violations
	checkBankName(&vs, "DeleteBankRequest.name", req.GetName())
	if err := vs.err(); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if err := allowBank(ctx, "DeleteBankRequest.name", req.GetName()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if err := s.banks.DeleteBank(ctx, req.GetName()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &pb.DeleteBankResponse{}, nil
}

func (b *bankService) AddItem(ctx context.Context, req *pb.AddItemRequest) (*pb.AddItemResponse, error) {
	s := b.s
	var (
		vs    violations
		media mediamatch.Media
	)
	checkItemSpec(&vs, "AddItemRequest.item", req.GetItem())
	switch src := req.GetSource().(type) {
	case *pb.AddItemRequest_Media:
		media = checkMedia(&vs, "AddItemRequest.media", src.Media, true)
	case *pb.AddItemRequest_Content:
		// checked below, after the cheap checks
	default:
		vs.add("AddItemRequest.source", "missing, want content (the file) or media (its signals)")
	}
	if err := vs.err(); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if err := allowBank(ctx, "AddItemRequest.item.bank", req.GetItem().GetBank()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if req.GetMedia() == nil {
		if err := s.checkContent("AddItemRequest.content", "AddItemStream", req.GetContent()); err != nil {
			return nil, s.toStatus(ctx, err)
		}
		if err := s.checkNewItem(ctx, req.GetItem()); err != nil {
			return nil, s.toStatus(ctx, err)
		}
		var err error
		if media, err = s.hashContent(ctx, "AddItemRequest.content", req.GetContent(), fingerprint.HashOptions{}); err != nil {
			return nil, s.toStatus(ctx, err)
		}
	}
	it, err := s.addItem(ctx, req.GetItem(), media)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &pb.AddItemResponse{Item: it}, nil
}

func (b *bankService) AddItemStream(stream pb.BankService_AddItemStreamServer) error {
	s, ctx := b.s, stream.Context()
	first, data, err := receive(stream.Recv, "AddItemStreamRequest", s.opts.MaxStreamBytes,
		func(first *pb.AddItemStreamRequest) error {
			var vs violations
			checkItemSpec(&vs, "AddItemStreamRequest.item", first.GetItem())
			if err := vs.err(); err != nil {
				return err
			}
			if err := allowBank(ctx, "AddItemStreamRequest.item.bank", first.GetItem().GetBank()); err != nil {
				return err
			}
			return s.checkNewItem(ctx, first.GetItem())
		})
	if err != nil {
		return s.toStatus(ctx, err)
	}
	media, err := s.hashContent(ctx, "AddItemStreamRequest.chunk", data, fingerprint.HashOptions{})
	if err != nil {
		return s.toStatus(ctx, err)
	}
	it, err := s.addItem(ctx, first.GetItem(), media)
	if err != nil {
		return s.toStatus(ctx, err)
	}
	return stream.SendAndClose(&pb.AddItemStreamResponse{Item: it})
}

// checkNewItem fails early, before an upload is received or hashed, if the
// item's bank does not exist or already has an item with its id. The index
// checks again when the item is added.
func (s *Server) checkNewItem(ctx context.Context, spec *pb.ItemSpec) error {
	if _, err := s.banks.GetBank(ctx, spec.GetBank()); err != nil {
		return err
	}
	_, err := s.items.GetItem(ctx, spec.GetBank(), spec.GetId())
	switch {
	case err == nil:
		return mediamatch.Errorf(mediamatch.AlreadyExists, "", "item %q in bank %q", spec.GetId(), spec.GetBank())
	case errors.Is(err, mediamatch.ErrNotFound):
		return nil
	}
	return err
}

func (s *Server) addItem(ctx context.Context, spec *pb.ItemSpec, media mediamatch.Media) (*pb.Item, error) {
	it, err := s.items.AddItem(ctx, mediamatch.Item{
		Bank:   spec.GetBank(),
		ID:     spec.GetId(),
		Labels: spec.GetLabels(),
		Media:  media,
	})
	if err != nil {
		return nil, err
	}
	return pb.ItemToProto(it), nil
}

func (b *bankService) GetItem(ctx context.Context, req *pb.GetItemRequest) (*pb.GetItemResponse, error) {
	s := b.s
	var vs violations
	checkBankName(&vs, "GetItemRequest.bank", req.GetBank())
	checkItemID(&vs, "GetItemRequest.id", req.GetId())
	if err := vs.err(); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if err := allowBank(ctx, "GetItemRequest.bank", req.GetBank()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	it, err := s.items.GetItem(ctx, req.GetBank(), req.GetId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &pb.GetItemResponse{Item: pb.ItemToProto(it)}, nil
}

func (b *bankService) ListItems(ctx context.Context, req *pb.ListItemsRequest) (*pb.ListItemsResponse, error) {
	s := b.s
	var vs violations
	checkBankName(&vs, "ListItemsRequest.bank", req.GetBank())
	checkPageSize(&vs, "ListItemsRequest.page_size", req.GetPageSize())
	if err := vs.err(); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if err := allowBank(ctx, "ListItemsRequest.bank", req.GetBank()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	items, next, err := s.items.ListItems(ctx, req.GetBank(), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, s.toStatus(ctx, pageTokenError("ListItemsRequest.page_token", err))
	}
	resp := &pb.ListItemsResponse{NextPageToken: next, Items: make([]*pb.Item, len(items))}
	for i, it := range items {
		resp.Items[i] = pb.ItemToProto(it)
	}
	return resp, nil
}

func (b *bankService) UpdateItem(ctx context.Context, req *pb.UpdateItemRequest) (*pb.UpdateItemResponse, error) {
	s := b.s
	var (
		vs violations
		u  mediamatch.ItemUpdate
	)
	item := req.GetItem()
	if item == nil {
		vs.add("UpdateItemRequest.item", "missing, want the item's bank and id and the new values")
	} else {
		checkBankName(&vs, "UpdateItemRequest.item.bank", item.GetBank())
		checkItemID(&vs, "UpdateItemRequest.item.id", item.GetId())
	}
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		vs.add("UpdateItemRequest.update_mask", `empty, want one or more of "labels", "disabled"`)
	}
	for i, p := range paths {
		switch p {
		case "labels":
			u.SetLabels, u.Labels = true, item.GetLabels()
			checkLabels(&vs, "UpdateItemRequest.item.labels", item.GetLabels())
		case "disabled":
			u.SetDisabled, u.Disabled = true, item.GetDisabled()
		default:
			vs.add(fmt.Sprintf("UpdateItemRequest.update_mask.paths[%d]", i),
				`%s, want "labels" or "disabled"`, quote(p))
		}
	}
	if err := vs.err(); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if err := allowBank(ctx, "UpdateItemRequest.item.bank", item.GetBank()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	it, err := s.items.UpdateItem(ctx, item.GetBank(), item.GetId(), u)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &pb.UpdateItemResponse{Item: pb.ItemToProto(it)}, nil
}

func (b *bankService) DeleteItem(ctx context.Context, req *pb.DeleteItemRequest) (*pb.DeleteItemResponse, error) {
	s := b.s
	var vs violations
	checkBankName(&vs, "DeleteItemRequest.bank", req.GetBank())
	checkItemID(&vs, "DeleteItemRequest.id", req.GetId())
	if err := vs.err(); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if err := allowBank(ctx, "DeleteItemRequest.bank", req.GetBank()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if err := s.items.DeleteItem(ctx, req.GetBank(), req.GetId()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &pb.DeleteItemResponse{}, nil
}
